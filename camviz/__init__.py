"""camviz: Grad-CAM figures for image classifiers, straight from a checkpoint.

The public API is re-exported here lazily, so `import camviz` stays cheap until torch is needed.
"""

from __future__ import annotations

import importlib
from typing import Any

from camviz.errors import CamvizError, CheckpointError, ImageDecodeError, TargetLayerError, UsageError

__version__ = "0.1.0"

_LAZY = {
    "Checkpoint": "camviz.checkpoint",
    "read_checkpoint": "camviz.checkpoint",
    "LoadedModel": "camviz.models",
    "InputSpec": "camviz.models",
    "load_model": "camviz.models",
    "import_plugins": "camviz.models",
    "FAMILIES": "camviz.families",
    "Family": "camviz.families",
    "TargetLayers": "camviz.layers",
    "resolve_targets": "camviz.layers",
    "find_target_layers": "camviz.layers",
    "get_submodule": "camviz.layers",
    "candidate_layers": "camviz.layers",
    "logits_only": "camviz.hf",
    "CamEngine": "camviz.cam",
    "ExplainOptions": "camviz.explain",
    "ExplainResult": "camviz.explain",
    "faithfulness_scores": "camviz.metrics",
    "compare_methods": "camviz.compare",
}

__all__ = [
    "CamvizError",
    "CheckpointError",
    "ImageDecodeError",
    "TargetLayerError",
    "UsageError",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    """Import the owning module on first use of a public name (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'camviz' has no attribute {name!r}")
