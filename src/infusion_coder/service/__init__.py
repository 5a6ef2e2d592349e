"""The HTTP service and the coder's page (`infusion-coder serve`): see docs/service.md."""

import os
from pathlib import Path

from fastapi import FastAPI

from ..api import Coder
from .app import MAX_BODY_BYTES, create_app
from .guard import DEFAULT_BODY_TIMEOUT

API_KEY_VARIABLE = "INFUSION_CODER_API_KEY"
REFERENCE_VARIABLE = "INFUSION_CODER_REFERENCE"  # set by `serve --reference` for its worker processes
BODY_TIMEOUT_VARIABLE = "INFUSION_CODER_BODY_TIMEOUT"
QUEUE_VARIABLE = "INFUSION_CODER_QUEUE"  # set by `serve --queue` for its worker processes


def app_from_environment() -> FastAPI:
    """The app of one worker process (`serve --workers N`, or `uvicorn --factory
    infusion_coder.service:app_from_environment`), configured from the environment: the key, the
    reference folder, the body deadline. Without a key it answers connections from this machine only
    (403 for any other), whatever address the server was bound to: the rule `serve` applies at start-up."""
    from .server import seconds_from_environment

    api_key = os.environ.get(API_KEY_VARIABLE) or None
    reference = os.environ.get(REFERENCE_VARIABLE)
    queue = os.environ.get(QUEUE_VARIABLE)
    coder = Coder.default(Path(reference)) if reference else Coder.default()
    return create_app(
        coder,
        api_key=api_key,
        local_only=api_key is None,
        body_timeout=seconds_from_environment(BODY_TIMEOUT_VARIABLE, DEFAULT_BODY_TIMEOUT),
        queue=Path(queue) if queue else None,
    )


__all__ = [
    "API_KEY_VARIABLE",
    "BODY_TIMEOUT_VARIABLE",
    "MAX_BODY_BYTES",
    "QUEUE_VARIABLE",
    "REFERENCE_VARIABLE",
    "app_from_environment",
    "create_app",
]
