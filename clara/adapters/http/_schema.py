"""The JSON Schema of /status, generated from ``StatusDocument`` and kept in the repository.

``status.schema.json`` beside this module is the published contract; a test fails when the
code's shape and the file differ. Regenerate it, after making sure the change only adds
fields, with ``python -m clara schema --write``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from ._document import StatusDocument

__all__ = ["SCHEMA_PATH", "status_schema"]

SCHEMA_PATH = Path(__file__).with_name("status.schema.json")


def status_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the /status document."""
    schema: dict[str, Any] = msgspec.json.schema(StatusDocument)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Clara /status",
        "description": (
            "The live supervision tree of a running Clara. Fields are only ever added, "
            "never renamed or removed; times named 'at' are the process's monotonic clock, "
            "'wall_time' and ISO strings are UTC."
        ),
        **schema,
    }


def render_schema() -> str:
    return json.dumps(status_schema(), indent=2, sort_keys=True) + "\n"
