"""Driving pytorch-grad-cam: one CAM object per run, batch after batch, predictions from `cam.outputs`.

The CAM math is pytorch-grad-cam's. What camviz adds is how it is driven: gradient methods only
backpropagate from the logits down to the target layer (no weight gradients anywhere), which gives the
same maps for a fraction of the cost, and the hooks are released in `close()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from pytorch_grad_cam.activations_and_gradients import ActivationsAndGradients

from camviz.cam.detection_cams import DetectionCams, DetectionChoice, chosen_detections, detection_cams
from camviz.cam.memory import out_of_memory
from camviz.cam.methods import canonical_method_name, method_class
from camviz.cam.options import CamOptions
from camviz.cam.regions import (
    RegionCams,
    RegionChoice,
    pixel_probabilities,
    predicted_classes,
    region_probability,
    region_target,
)
from camviz.cam.targets import batch_targets, class_targets
from camviz.discovery.output_kind import OutputKind
from camviz.errors import CamvizError, Say, first_line


@dataclass
class CamBatch:
    """pytorch-grad-cam's maps for one batch and the model's class probabilities from the same pass."""

    cams: np.ndarray  # float32 [B, H, W] in [0, 1], at model-input size (multilabel: the first explained label's)
    probabilities: np.ndarray  # float32 [B, num_classes]; binary: [1 - p, p]; multilabel: a sigmoid per label
    label_cams: list[np.ndarray] | None = None  # multilabel: each image's [K, H, W], one per `OutputKind.explained` class
    regions: list[RegionCams] | None = None  # segmentation: each image's label map and a CAM per explained class
    detections: list[DetectionCams] | None = None  # a detector: each image's detections and a CAM per detection


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
    """One pytorch-grad-cam object for a whole run; call `compute` per batch, `close` (or `with`) at the end.

    `output_kind` decides the targets and probabilities; `regions` makes it a segmentation model's engine (a CAM per
    predicted class over its region, `camviz.cam.regions`); `detections` a detector's (a CAM per detection,
    `camviz.cam.detection_cams`); `full_backward` turns off the backward that stops at the
    target layers (for comparisons: the maps are the same).
    """

    PASSES_BATCH_SIZE = 32  # Score-CAM / Ablation-CAM: masked forward passes per library batch

    def __init__(  # noqa: PLR0913 -- pytorch-grad-cam's (model, target_layers, reshape_transform), then camviz's
        self,
        model: torch.nn.Module,
        target_layers: Sequence[torch.nn.Module],
        reshape_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        *,
        options: CamOptions = CamOptions(),
        output_kind: OutputKind = OutputKind(),
        regions: RegionChoice | None = None,
        detections: DetectionChoice | None = None,
        say: Say = lambda message: None,
        full_backward: bool = False,
    ) -> None:
        self.output_kind = output_kind
        self.regions = regions
        self.detections = detections
        self.options = options
        self.say = say
        self.method = canonical_method_name(options.method)
        self.cam = method_class(options.method)(
            model=model, target_layers=list(target_layers), reshape_transform=reshape_transform
        )
        self.max_batch = 1 << 30
        if self.method in ("scorecam", "ablationcam"):
            self.cam.batch_size = self.PASSES_BATCH_SIZE  # the library batches its many masked forward passes
        if self.method == "scorecam":
            self.max_batch = 1  # ScoreCAM builds every masked copy of its whole input at once
        self.full_backward = full_backward
        self._frozen: AbstractContextManager[None] | None = None
        self._freeze()

    def _freeze(self) -> None:
        """Stop the backward pass at the target layers, when the method allows it (see the module docstring)."""
        if not self.full_backward and _backward_stops_at_targets(self.cam):
            frozen = gradients_from_targets_only(self.cam.model, self.cam.target_layers)
            frozen.__enter__()
            self._frozen = frozen

    def compute(self, inputs: torch.Tensor, target_category: int | None = None) -> CamBatch:
        """CAMs for a batch (explaining `target_category`, or each image's predicted class) and probabilities.

        On out-of-memory (CUDA, or the CPU allocator) the batch is halved and retried (down to one image), and
        the smaller size is kept for the rest of the run. Any other failure of the model on this input is a
        one-line `CamvizError` naming the input size.
        """
        while True:
            try:
                parts = [self._compute_chunk(chunk, target_category) for chunk in inputs.split(self.max_batch)]
                break
            except (RuntimeError, MemoryError) as error:  # CUDA's OutOfMemoryError, the CPU allocator's error
                self._halve_batch(inputs, error)
        label_cams = None if parts[0].label_cams is None else [c for part in parts for c in part.label_cams or ()]
        regions = None if parts[0].regions is None else [r for part in parts for r in part.regions or ()]
        found = None if parts[0].detections is None else [d for part in parts for d in part.detections or ()]
        return CamBatch(np.concatenate([p.cams for p in parts]), np.concatenate([p.probabilities for p in parts]),
                        label_cams=label_cams, regions=regions, detections=found)

    def _halve_batch(self, inputs: torch.Tensor, error: RuntimeError | MemoryError) -> None:
        """After `error`: halve the batch if it was out of memory (and say so), else raise its one line."""
        device = out_of_memory(error)
        if device is None:
            raise _model_failed(inputs, error) from error
        self.cam.activations_and_grads.clear()
        torch.cuda.empty_cache()
        self.max_batch = min(self.max_batch, len(inputs)) // 2
        if self.max_batch < 1:
            hint = "try --cpu or a smaller --img-size" if device == "GPU" else "try a smaller --img-size"
            raise CamvizError(f"out of {device} memory even for one image: {hint}") from error
        self.say(f"out of {device} memory; retrying with batches of {self.max_batch} (set --batch-size)")

    def _compute_chunk(self, inputs: torch.Tensor, target_category: int | None) -> CamBatch:
        device = next(self.cam.model.parameters()).device
        inputs = inputs.to(device)
        if self.regions is not None:
            return self._region_chunk(inputs, self.regions, target_category)
        if self.detections is not None:
            return self._detection_chunk(inputs, self.detections)
        cams = self._cams(inputs, batch_targets(self.output_kind, inputs, target_category, self.cam.model))
        logits = self.cam.outputs
        if self.options.aug_smooth:  # the last pass saw an augmented image: predict on the image itself
            with torch.no_grad():
                logits = self.cam.model(inputs)
        probabilities = self.output_kind.probabilities(logits.detach().float()).cpu().numpy()
        label_cams = None
        if self.output_kind.is_multilabel:
            label_cams = self._label_cams(inputs, probabilities, cams, target_category)
        return CamBatch(cams, probabilities, label_cams=label_cams)

    def _cams(self, inputs: torch.Tensor, targets: list | None) -> np.ndarray:
        """One pytorch-grad-cam call, its hooks' buffers cleared after."""
        try:
            cams = self.cam(input_tensor=inputs, targets=targets, aug_smooth=self.options.aug_smooth,
                            eigen_smooth=self.options.eigen_smooth)
        finally:
            self.cam.activations_and_grads.clear()
        return np.asarray(cams, dtype=np.float32)

    def _label_cams(self, inputs: torch.Tensor, probabilities: np.ndarray, first: np.ndarray,
                    target_category: int | None) -> list[np.ndarray]:
        """Multilabel: a CAM per explained label; the first pass explained the most probable, one pass per rank after."""
        explained = [self.output_kind.explained(p, target_category) for p in probabilities]
        stacks = [[cam] for cam in first]
        for rank in range(1, max(len(labels) for labels in explained)):
            rows = [i for i, labels in enumerate(explained) if len(labels) > rank]
            targets = class_targets([explained[i][rank] for i in rows])
            for i, cam in zip(rows, self._cams(inputs[rows], targets), strict=True):
                stacks[i].append(cam)
        return [np.stack(stack) for stack in stacks]

    def _region_chunk(self, inputs: torch.Tensor, choice: RegionChoice, target_category: int | None) -> CamBatch:
        """Segmentation: the label maps from one forward pass, then a CAM per explained class and image, one
        batched pass per rank (the first explained class of every image, then the second, ...)."""
        with torch.no_grad():
            probabilities = pixel_probabilities(self.output_kind, self.cam.model(inputs).float())
        predicted = predicted_classes(probabilities).cpu().numpy()
        probabilities_np = probabilities.cpu().numpy()
        explained = [choice.classes(labels, target_category) for labels in predicted]
        stacks: list[list[np.ndarray]] = [[] for _ in explained]
        for rank in range(max((len(classes) for classes in explained), default=0)):
            rows = [i for i, classes in enumerate(explained) if len(classes) > rank]
            targets = [region_target(self.output_kind, explained[i][rank], predicted[i] == explained[i][rank])
                       for i in rows]
            for i, cam in zip(rows, self._cams(inputs[rows], targets), strict=True):
                stacks[i].append(cam)
        height, width = predicted.shape[-2:]
        regions = [RegionCams(predicted=predicted[i], classes=classes,
                              cams=np.stack(stacks[i]) if stacks[i] else np.zeros((0, height, width), np.float32),
                              probability=tuple(region_probability(probabilities_np[i, c], predicted[i] == c)
                                                for c in classes))
                   for i, classes in enumerate(explained)]
        firsts = np.stack([r.cams[0] if len(r.cams) else np.zeros((height, width), np.float32) for r in regions])
        return CamBatch(firsts, probabilities_np.mean(axis=(2, 3)), regions=regions)

    def _detection_chunk(self, inputs: torch.Tensor, choice: DetectionChoice) -> CamBatch:
        """A detector: the detections from one forward pass without gradients, then a CAM per detection, one
        batched pass per rank (`camviz.cam.detection_cams`); `probabilities` has no columns."""
        with torch.no_grad():
            outputs = self.cam.model(inputs)
        self.cam.activations_and_grads.clear()
        images = detection_cams(inputs, chosen_detections(outputs, choice), self._cams)
        height, width = inputs.shape[-2:]
        firsts = np.stack([d.cams[0] if len(d.cams) else np.zeros((height, width), np.float32) for d in images])
        return CamBatch(firsts, np.zeros((len(images), 0), np.float32), detections=images)

    def close(self) -> None:
        """Release pytorch-grad-cam's hooks and the last pass's outputs; restore the model's parameter flags."""
        self.cam.activations_and_grads.release()
        self.cam.outputs = None  # the logits hold the last pass's graph
        if self._frozen is not None:
            self._frozen.__exit__(None, None, None)
            self._frozen = None

    def reopen(self) -> None:
        """After `close()`: the same CAM object's hooks back on the target layers and the flags frozen again, so
        one engine serves many calls that each leave the model as they found it (`camviz.integrations`)."""
        cam = self.cam
        if cam.activations_and_grads.handles:
            return
        cam.activations_and_grads = ActivationsAndGradients(cam.model, cam.target_layers, cam.reshape_transform,
                                                            cam.detach)
        self._freeze()

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
