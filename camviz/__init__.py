"""camviz: Grad-CAM figures for image classifiers, straight from a checkpoint.

The public API is the names in `__all__`, re-exported here lazily so `import camviz` stays cheap until torch is
needed. The packages behind them (`discovery`, `data`, `cam`, `output`, `run`, `integrations`, `cli`) are internal and
may change; `camviz.lightning` (the training callback) is public and imports Lightning only when imported.
"""

from __future__ import annotations

import importlib
from typing import Any

from camviz.errors import CamvizError, CheckpointError, ImageDecodeError, OutputError, TargetLayerError, UsageError

__version__ = "0.1.0"

_LAZY = {
    # discovery: checkpoint -> model, its input spec and output kind, the family table, target layers
    "Checkpoint": "camviz.discovery.checkpoint",
    "read_checkpoint": "camviz.discovery.checkpoint",
    "LoadedModel": "camviz.discovery.models",
    "load_model": "camviz.discovery.models",
    "import_plugins": "camviz.discovery.plugins",
    "InputSpec": "camviz.discovery.spec",
    "OutputKind": "camviz.discovery.output_kind",
    "ModelOptions": "camviz.discovery.options",
    "OutputName": "camviz.discovery.options",
    "ModelDescription": "camviz.discovery.describe",
    "describe": "camviz.discovery.describe",
    "InputOptions": "camviz.data.options",
    "OutputOptions": "camviz.output.options",
    "FigureFormat": "camviz.output.options",
    "FAMILIES": "camviz.discovery.families",
    "Family": "camviz.discovery.families",
    "TargetLayers": "camviz.discovery.layers",
    "resolve_targets": "camviz.discovery.layers",
    "find_target_layers": "camviz.discovery.layers",
    "get_submodule": "camviz.discovery.layers",
    "candidate_layers": "camviz.discovery.layers",
    "logits_only": "camviz.discovery.hf",
    # cam: pytorch-grad-cam driven over batches, and its faithfulness metrics
    "METHODS": "camviz.cam.methods",
    "CamEngine": "camviz.cam.engine",
    "CamBatch": "camviz.cam.engine",
    "CamOptions": "camviz.cam.options",
    "faithfulness_scores": "camviz.cam.metrics",
    # run: whole jobs from Python
    "ResolvedModel": "camviz.run.model",
    "resolve_model": "camviz.run.model",
    "ExplainOptions": "camviz.run.options",
    "RunMode": "camviz.run.options",
    "ExplainResult": "camviz.run.job",
    "explain": "camviz.run.job",
    "SilentProgress": "camviz.run.progress",
    "compare_methods": "camviz.run.compare",
    "SanityOptions": "camviz.run.sanity",
    "SanityResult": "camviz.run.sanity",
    "SanityTest": "camviz.cam.randomisation",
    "sanity": "camviz.run.sanity",
    "audit": "camviz.run.audit",
    "AuditResult": "camviz.run.audit",
    "AuditOptions": "camviz.cam.audit",
    # integrations: a notebook call and a training-loop logger (the Lightning callback is camviz.lightning)
    "ImageExplanation": "camviz.integrations.explanation",
    "explain_image": "camviz.integrations.notebook",
    "log_cams": "camviz.integrations.loops",
}

__all__ = [
    "FAMILIES",
    "METHODS",
    "AuditOptions",
    "AuditResult",
    "CamBatch",
    "CamEngine",
    "CamOptions",
    "CamvizError",
    "Checkpoint",
    "CheckpointError",
    "ExplainOptions",
    "ExplainResult",
    "Family",
    "FigureFormat",
    "ImageDecodeError",
    "ImageExplanation",
    "InputOptions",
    "InputSpec",
    "LoadedModel",
    "ModelDescription",
    "ModelOptions",
    "OutputError",
    "OutputKind",
    "OutputName",
    "OutputOptions",
    "ResolvedModel",
    "RunMode",
    "SanityOptions",
    "SanityResult",
    "SanityTest",
    "SilentProgress",
    "TargetLayerError",
    "TargetLayers",
    "UsageError",
    "audit",
    "candidate_layers",
    "compare_methods",
    "describe",
    "explain",
    "explain_image",
    "faithfulness_scores",
    "find_target_layers",
    "get_submodule",
    "import_plugins",
    "load_model",
    "log_cams",
    "logits_only",
    "read_checkpoint",
    "resolve_model",
    "resolve_targets",
    "sanity",
]


def __getattr__(name: str) -> Any:
    """Import the owning module on first use of a public name (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'camviz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
