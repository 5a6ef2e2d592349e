from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from infusion_coder import Coder


@pytest.fixture(scope="session")
def coder() -> Coder:
    return Coder.default()
