"""A source format for the batch tests of --from: two encounters and an error object per source."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from infusion_coder.formats import ImportOptions, Source, error_record
from infusion_coder.reference import ReferencePack


def read(sources: Sequence[Source], options: ImportOptions, pack: ReferencePack) -> Iterator[dict[str, Any]]:
    for source in sources:
        for line in source.read_bytes().decode().splitlines():
            name, substance = line.split(",")
            if not substance:
                yield error_record(name, f"{source.name}: no substance for {name}", "substance")
                continue
            yield {
                "encounter_id": name,
                "claim_type": options.claim_type,
                "timezone": options.timezone,
                "administrations": [
                    {
                        "id": "a1",
                        "substance": substance,
                        "route": "intravenous",
                        "start": "2026-01-15T09:00",
                        "end": "2026-01-15T10:00",
                    }
                ],
            }
