"""Reading the JSON files that sit beside weights (`config.json`, `preprocessor_config.json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from camviz.errors import CheckpointError


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in `path`; a missing, unreadable or non-object file is a one-line `CheckpointError`."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointError(f"cannot read {path}: {error}") from error
    if not isinstance(content, dict):
        raise CheckpointError(f"{path} is not a JSON object")
    return content
