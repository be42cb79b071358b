"""The CAM methods camviz offers: pytorch-grad-cam's classes, by every spelling users write."""

from __future__ import annotations

import pytorch_grad_cam

from camviz.errors import UsageError

# user-facing name -> class name in pytorch_grad_cam; only those the installed version exports are offered
_METHOD_CLASSES = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "hirescam": "HiResCAM",
    "xgradcam": "XGradCAM",
    "layercam": "LayerCAM",
    "eigencam": "EigenCAM",
    "eigengradcam": "EigenGradCAM",
    "scorecam": "ScoreCAM",
    "ablationcam": "AblationCAM",
    "gradcamelementwise": "GradCAMElementWise",
    "fullgrad": "FullGrad",
    "kpcacam": "KPCA_CAM",
    "shapleycam": "ShapleyCAM",
    "fem": "FEM",
    "randomcam": "RandomCAM",
}

METHODS: dict[str, type] = {
    name: getattr(pytorch_grad_cam, cls) for name, cls in _METHOD_CLASSES.items() if hasattr(pytorch_grad_cam, cls)
}

# every accepted spelling (the name, the class name, `gradcampp`), lower-cased -> the name
_SPELLINGS = {
    **{name: name for name in METHODS},
    **{cls.__name__.lower(): name for name, cls in METHODS.items()},
    "gradcampp": "gradcam++",
}


def canonical_method_name(name: str) -> str:
    """The method's name as used in output files, from any accepted spelling (case-insensitive)."""
    key = _SPELLINGS.get(name.lower().replace("-", "").replace("_", ""))
    if key is None:
        raise UsageError(f"unknown --method {name!r}; choose one of: {', '.join(METHODS)}")
    return key


def method_class(name: str) -> type:
    """The pytorch-grad-cam class for a method name in any accepted spelling."""
    return METHODS[canonical_method_name(name)]
