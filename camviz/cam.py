"""Driving pytorch-grad-cam: one CAM object per run, batch after batch, predictions from `cam.outputs`.

The CAM math is pytorch-grad-cam's. What camviz adds is how it is driven: gradient methods only
backpropagate from the logits down to the target layer (no weight gradients anywhere), which gives the
same maps for a fraction of the cost, and the hooks are released in `close()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pytorch_grad_cam
import torch
from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget, ClassifierOutputTarget

from camviz.errors import CamvizError, UsageError, first_line
from camviz.memory import out_of_memory

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


@dataclass
class CamBatch:
    """pytorch-grad-cam's maps for one batch and the model's class probabilities from the same pass."""

    cams: np.ndarray  # float32 [B, H, W] in [0, 1], at model-input size (multilabel: the first explained label's)
    probabilities: np.ndarray  # float32 [B, num_classes]; binary: [1 - p, p]; multilabel: a sigmoid per label
    label_cams: list[np.ndarray] | None = None  # multilabel: each image's [K, H, W], one per `explained_classes`


def predicted_classes(probabilities: np.ndarray, output: str = "softmax", threshold: float = 0.5) -> list[int]:
    """One image's prediction: the argmax (softmax), the positive class when p >= 0.5 (binary), or every
    label at or above `threshold`, most probable first (multilabel; may be empty)."""
    if output == "binary":
        return [int(probabilities[1] >= 0.5)]
    if output == "multilabel":
        order = np.argsort(-probabilities, kind="stable")
        return [int(i) for i in order if probabilities[i] >= threshold]
    return [int(probabilities.argmax())]


def explained_classes(probabilities: np.ndarray, output: str = "softmax", threshold: float = 0.5,
                      target_category: int | None = None) -> list[int]:
    """The classes one image's CAMs explain: `target_category`, else the prediction (no label: the most probable)."""
    if target_category is not None:
        return [target_category]
    return predicted_classes(probabilities, output, threshold) or [int(probabilities.argmax())]


@contextmanager
def gradients_from_targets_only(
    model: torch.nn.Module, target_layers: Sequence[torch.nn.Module]
) -> Iterator[None]:
    """Turn off every parameter's gradient and start the autograd graph at the target layers' outputs.

    The backward pass then runs only from the logits to the targets: the activations' gradients are
    exactly those of a full backward, but no weight gradient and no graph below the targets is built.
    """
    flags = [(p, p.requires_grad) for p in model.parameters()]
    handles = [layer.register_forward_hook(_start_graph_here, prepend=True) for layer in target_layers]
    try:
        for parameter, _ in flags:
            parameter.requires_grad_(False)
        yield
    finally:
        for handle in handles:
            handle.remove()
        for parameter, flag in flags:
            parameter.requires_grad_(flag)


def _start_graph_here(module: torch.nn.Module, inputs: tuple, output: object) -> object:
    """Forward hook: make a target's output the root of the autograd graph (a clone, so in-place ops after it work)."""
    if isinstance(output, torch.Tensor) and not output.requires_grad and torch.is_grad_enabled():
        return output.detach().requires_grad_(True).clone()
    return None


class CamEngine:
    """One pytorch-grad-cam object for a whole run; call `explain` per batch, `close` (or `with`) at the end."""

    def __init__(
        self,
        model: torch.nn.Module,
        target_layers: Sequence[torch.nn.Module],
        reshape_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        method: str = "gradcam",
        full_backward: bool = False,
        on_warning: Callable[[str], None] = lambda message: None,
        aug_smooth: bool = False,
        eigen_smooth: bool = False,
        passes_batch_size: int = 32,
        output: str = "softmax",
        threshold: float = 0.5,
    ) -> None:
        self.output = output  # the model's output kind: softmax, binary or multilabel
        self.threshold = threshold
        self.aug_smooth = aug_smooth
        self.eigen_smooth = eigen_smooth
        self.max_batch = 1 << 30
        self.on_warning = on_warning
        self.method = canonical_method_name(method)
        self.cam = method_class(method)(
            model=model, target_layers=list(target_layers), reshape_transform=reshape_transform
        )
        if self.method in ("scorecam", "ablationcam"):
            self.cam.batch_size = passes_batch_size  # the library batches its many masked forward passes
        if self.method == "scorecam":
            self.max_batch = 1  # ScoreCAM builds every masked copy of its whole input at once
        self._frozen = None
        if not full_backward and _backward_stops_at_targets(self.cam):
            self._frozen = gradients_from_targets_only(model, target_layers)
            self._frozen.__enter__()

    def explain(self, inputs: torch.Tensor, target_category: int | None = None) -> CamBatch:
        """CAMs for a batch (explaining `target_category`, or each image's predicted class) and probabilities.

        On out-of-memory (CUDA, or the CPU allocator) the batch is halved and retried (down to one image), and
        the smaller size is kept for the rest of the run. Any other failure of the model on this input is a
        one-line `CamvizError` naming the input size.
        """
        while True:
            try:
                parts = [self._explain_chunk(chunk, target_category) for chunk in inputs.split(self.max_batch)]
                break
            except (RuntimeError, MemoryError) as error:  # CUDA's OutOfMemoryError, the CPU allocator's error
                device = out_of_memory(error)
                if device is None:
                    raise _model_failed(inputs, error) from error
                self.cam.activations_and_grads.clear()
                torch.cuda.empty_cache()
                self.max_batch = min(self.max_batch, len(inputs)) // 2
                if self.max_batch < 1:
                    hint = "try --cpu or a smaller --img-size" if device == "GPU" else "try a smaller --img-size"
                    raise CamvizError(f"out of {device} memory even for one image: {hint}") from error
                self.on_warning(f"out of {device} memory; retrying with batches of {self.max_batch} (set --batch-size)")
        label_cams = None if parts[0].label_cams is None else [c for part in parts for c in part.label_cams]
        return CamBatch(np.concatenate([p.cams for p in parts]), np.concatenate([p.probabilities for p in parts]),
                        label_cams)

    def _explain_chunk(self, inputs: torch.Tensor, target_category: int | None) -> CamBatch:
        device = next(self.cam.model.parameters()).device
        inputs = inputs.to(device)
        cams = self._cams(inputs, self._targets(inputs, target_category))
        logits = self.cam.outputs
        if self.aug_smooth:  # the last pass saw an augmented image: predict on the image itself
            with torch.no_grad():
                logits = self.cam.model(inputs)
        probabilities = self._probabilities(logits.detach().float()).cpu().numpy()
        label_cams = None
        if self.output == "multilabel":
            label_cams = self._label_cams(inputs, probabilities, cams, target_category)
        return CamBatch(cams, probabilities, label_cams)

    def _cams(self, inputs: torch.Tensor, targets: list | None) -> np.ndarray:
        """One pytorch-grad-cam call, its hooks' buffers cleared after."""
        try:
            cams = self.cam(input_tensor=inputs, targets=targets, aug_smooth=self.aug_smooth,
                            eigen_smooth=self.eigen_smooth)
        finally:
            self.cam.activations_and_grads.clear()
        return np.asarray(cams, dtype=np.float32)

    def _targets(self, inputs: torch.Tensor, target_category: int | None) -> list | None:
        """What the CAM explains, by output kind: the predicted class (None: pytorch-grad-cam's argmax) or the given one.

        A binary model's decided class (p >= 0.5: the logit, else minus it) comes from a forward pass of its own,
        so methods that score other inputs (Score-CAM, Ablation-CAM, --aug-smooth) keep explaining that class.
        """
        if self.output != "binary":
            return None if target_category is None else [ClassifierOutputTarget(target_category)] * len(inputs)
        if target_category is not None:
            return [BinaryClassifierOutputTarget(target_category)] * len(inputs)
        with torch.no_grad():
            logits = self.cam.model(inputs).reshape(len(inputs), -1)[:, 0]
        return [BinaryClassifierOutputTarget(int(logit >= 0)) for logit in logits.tolist()]

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax over classes; binary: [1 - p, p] from the one logit; multilabel: a sigmoid per label."""
        if self.output == "binary":
            positive = torch.sigmoid(logits.reshape(len(logits), -1)[:, :1])
            return torch.cat([1 - positive, positive], dim=1)
        return torch.sigmoid(logits) if self.output == "multilabel" else torch.softmax(logits, dim=-1)

    def _label_cams(self, inputs: torch.Tensor, probabilities: np.ndarray, first: np.ndarray,
                    target_category: int | None) -> list[np.ndarray]:
        """Multilabel: a CAM per explained label; the first pass explained the most probable, one pass per rank after."""
        explained = [explained_classes(p, "multilabel", self.threshold, target_category) for p in probabilities]
        stacks = [[cam] for cam in first]
        for rank in range(1, max(len(labels) for labels in explained)):
            rows = [i for i, labels in enumerate(explained) if len(labels) > rank]
            targets = [ClassifierOutputTarget(explained[i][rank]) for i in rows]
            for i, cam in zip(rows, self._cams(inputs[rows], targets)):
                stacks[i].append(cam)
        return [np.stack(stack) for stack in stacks]

    def close(self) -> None:
        """Release pytorch-grad-cam's hooks and restore the model's parameter flags."""
        self.cam.activations_and_grads.release()
        if self._frozen is not None:
            self._frozen.__exit__(None, None, None)
            self._frozen = None

    def __enter__(self) -> CamEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _model_failed(inputs: torch.Tensor, error: BaseException) -> CamvizError:
    """A forward/backward that fails on this input (a model trained at another size, a layer whose output cannot
    be read as maps): one line that says so, not a traceback."""
    height, width = inputs.shape[-2:]
    return CamvizError(f"the model could not be explained on {height}x{width} inputs: {first_line(error)} "
                       "(is --img-size the size it was trained at? is --target-layer a feature map?)")


def _backward_stops_at_targets(cam: object) -> bool:
    """Whether a method needs gradients only at the target layers (not at the input or deeper layers)."""
    return bool(
        getattr(cam, "uses_gradients", False)
        and not getattr(cam, "compute_input_gradient", True)
        and getattr(cam, "detach", False)
    )
