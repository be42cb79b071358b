"""Where to look: target-layer resolution, checked by a dry forward before anything runs.

One resolution order, like timm's data config: `--target-layer` > the family table > an smp model's encoder's last
stage (`camviz.discovery.smp`) > what timm's metadata says
(`global_pool == "token"`: the last pre-norm; `feature_info[-1]`, checked against the real module names) > the last
layer whose output reads as a spatial map, found by a dry forward. Every candidate is checked the same way: it is
called, its output reads as a (B, C, H, W) map on the image grid (`decide_reshape`), and the logits' gradient at that
map is not zero on a probe input; the first that passes wins, and skipping one is said in `warning`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from camviz.discovery.families import FAMILIES, Family
from camviz.discovery.probe import NotLogitsError, Traced, gradient_reaches, trace_outputs
from camviz.discovery.reshapes import (
    LayerReshape,
    Layout,
    ReshapedTarget,
    decide_reshape,
    reshape_spelling,
    token_reshape,
)
from camviz.discovery.smp import encoder_last_stage
from camviz.discovery.spec import ImageSize, height_width
from camviz.discovery.timm_meta import channels_last, metadata_candidates, model_input_size, prefix_tokens
from camviz.errors import TargetLayerError, UsageError

FALLBACK_CANDIDATES = 24  # the last spatial layers a dry forward offers when nothing named one


@dataclass(frozen=True, kw_only=True)
class TargetLayers:
    """The resolved Grad-CAM target layers and how to turn their outputs into NCHW maps."""

    family: str  # a family name from the table, or "override", "smp", "timm_token_pool", "feature_info", "fallback"
    names: list[str]  # dotted named_modules() names, e.g. "layer4.1"
    modules: list[nn.Module]  # a tuple-output layer comes wrapped (`ReshapedTarget`), its hooks seeing the map
    reshape_transform: Callable[[torch.Tensor], torch.Tensor] | None  # ready for pytorch_grad_cam
    decided_by: str = ""  # the rule that decided, in words
    reshape_detail: str = ""  # what the reshape does, in words (e.g. "tokens: 1 prefix + 14x14 grid")
    warning: str | None = None  # set when a candidate was skipped, the fallback decided, or a check failed
    layer_reshapes: list[LayerReshape | None] = field(default_factory=list)  # per layer (None: unchecked)
    layers: list[nn.Module] = field(default_factory=list)  # the plain modules

    @property
    def reshape(self) -> str | None:
        """The reshape as `layers --json` spells it: None | "vit" | "nhwc" | "item<i>[+vit|+nhwc]"."""
        return reshape_spelling(self.layer_reshapes)


@dataclass(frozen=True, kw_only=True)
class _Option:
    path: str
    rule: str
    reason: str
    hint: Layout | None = None  # a family row's reshape


def resolve_targets(
    model: nn.Module,
    model_name: str | None = None,
    override: Sequence[str] | None = None,
    img_size: int | tuple[int, int] | None = None,
    *,
    families: Sequence[Family] = FAMILIES,
) -> TargetLayers:
    """Target layers by `override` paths > family table > timm metadata > last spatial map with a gradient.

    `img_size`: the input the model will be run on; None reads the model's own (`model_input_size`)."""
    size = height_width(img_size) if img_size is not None else model_input_size(model)
    matching = [family for family in families if _matches(family, model, model_name)]
    hint = next((family.reshape for family in matching), None)
    if override:
        return _override(model, list(override), hint, size)
    options = [_Option(path=path, rule=family.name, reason=f"family row {family.name!r}", hint=family.reshape)
               for family in matching if (path := next((p for p in family.paths if _exists(model, p)), None))]
    label = model_name or type(model).__name__
    try:
        traced = trace_outputs(model, size)
    except TargetLayerError as error:
        if options and not isinstance(error, NotLogitsError):  # the table still answers; the check could not run
            return _targets(model, options[0], None, size, warning=f"not checked: {error}")
        raise TargetLayerError(f"cannot find target layer for {label}: {error}") from error
    found = [*encoder_last_stage(model, traced), *metadata_candidates(model, list(traced))]
    options += [_Option(path=c.path, rule=c.rule, reason=c.reason) for c in found]
    options += [_Option(path=name, rule="fallback", reason="the last layer whose output is a spatial map (dry forward)")
                for name in reversed(traced)]
    return _choose(model, label, options, traced, size)


def find_target_layers(model: nn.Module, model_name: str | None = None,
                       img_size: int | tuple[int, int] | None = None) -> list[nn.Module]:
    """The target modules, ready for `pytorch_grad_cam.GradCAM(model, target_layers=...)` with no reshape:
    token, channels-last and tuple-output layers come wrapped so their hooks already see (B, C, H, W) maps, a token
    grid following the input each call is run on. `img_size` None: the model's own size."""
    targets = resolve_targets(model, model_name, img_size=img_size)
    if targets.reshape is None:  # NCHW maps already (the pooled-output guard is for camviz's own runs)
        return targets.layers
    wrapped: list[nn.Module] = []
    for layer, reshape in zip(targets.layers, targets.layer_reshapes, strict=True):
        reading = reshape or LayerReshape()
        wrapped.append(ReshapedTarget(layer, reading, reading.inverse, root=model))
    return wrapped


def _choose(model: nn.Module, model_name: str, options: list[_Option], traced: dict[str, Traced],
            size: ImageSize) -> TargetLayers:
    """The first option that is called, reads as a spatial map and has a gradient; the named ones skipped before
    it, and a fallback decision, go in the warning."""
    readable: list[tuple[int, _Option, nn.Module, LayerReshape]] = []
    unreadable: list[tuple[int, str, str]] = []
    for position, option in enumerate(dict.fromkeys(options)):
        if not _exists(model, option.path):
            unreadable.append((position, option.rule, f"{option.path} ({option.reason}): the model has no such module"))
            continue
        name, module = _resolve(model, option.path)
        if any(name == chosen.path for _, chosen, _, _ in readable):
            continue
        shared = option.rule == "fallback" and traced[name].calls > 1  # called twice: its hooks would fire twice
        reshape = None if shared else _reading(model, traced.get(name), option.hint, size)
        if reshape is not None:
            readable.append((position, replace(option, path=name), module, reshape))
        elif option.rule != "fallback":
            unreadable.append((position, option.rule, f"{name} ({option.reason}): {_why_not(traced.get(name))}"))
        if sum(item[1].rule == "fallback" for item in readable) >= FALLBACK_CANDIDATES:
            break
    if not readable:
        seen = ", ".join(f"{n} {t.shape or '(tuple)'}" for n, t in list(traced.items())[-4:]) or "no module outputs"
        raise TargetLayerError(f"cannot find target layer for {model_name}: no module outputs a spatial map "
                               f"(last outputs: {seen}); pass --target-layer with a dotted module path, e.g. layer4.-1")
    reaches = gradient_reaches(model, size, {o.path: (m, r) for _, o, m, r in readable})
    chosen = next((item for item in readable if reaches[item[1].path]), None)
    notes = []
    if chosen is None:
        chosen = readable[0]
        notes.append(f"the logits' gradient is zero at every candidate (a zero-initialised head?): kept {chosen[1].path}")
    position, option, _, reshape = chosen
    skipped = unreadable + [(p, o.rule, f"{o.path} ({o.reason}): the logits' gradient there is zero (the head does "
                               "not read it)") for p, o, _, _ in readable if not reaches[o.path] and o.rule != "fallback"]
    first_per_rule = {rule: note for p, rule, note in sorted(skipped, reverse=True) if p < position and rule != option.rule}
    notes = [f"skipped {note}" for note in reversed(first_per_rule.values())] + notes
    if option.rule == "fallback":
        notes.append(f"no family row or timm metadata named a usable layer: took {option.path}, {option.reason}; "
                     "check it or pass --target-layer")
    return _targets(model, option, reshape, size, warning="; ".join(notes) or None)


def _reading(model: nn.Module, traced: Traced | None, hint: Layout | None, size: ImageSize) -> LayerReshape | None:
    """How this layer's traced output reads as a map, or None (never called, or no spatial reading)."""
    if traced is None:
        return None
    shape = traced.shape
    if hint is Layout.TOKENS and shape is not None and len(shape) == 3:
        tokens = token_reshape(model, size)
        if tokens.prefix_tokens + tokens.grid[0] * tokens.grid[1] == shape[1] and tokens.grid[0] * tokens.grid[1] > 1:
            tokens.input_size = size
            return LayerReshape(layout=Layout.TOKENS, tokens=tokens, grid=tokens.grid)
    if hint is Layout.NHWC and shape is not None and len(shape) == 4:
        return LayerReshape(layout=Layout.NHWC, grid=(shape[1], shape[2]))
    return decide_reshape(traced.output, size, prefix_hint=prefix_tokens(model), nhwc_hint=channels_last(model))


def _why_not(traced: Traced | None) -> str:
    if traced is None:
        return "never called by the model's forward"
    return f"its output {traced.shape or 'tuple'} is not a spatial map on the image grid"


def _unchecked(model: nn.Module, hint: Layout | None, size: ImageSize) -> LayerReshape | None:
    """A family row's reshape taken on trust (no dry forward could check it); None without a row's reshape."""
    if hint is Layout.TOKENS:
        return LayerReshape(layout=hint, tokens=token_reshape(model, size))
    return LayerReshape(layout=hint) if hint is not None else None


def _override(model: nn.Module, paths: list[str], hint: Layout | None, size: ImageSize) -> TargetLayers:
    """The user's layers, each with the reshape a dry forward decides (the family row's when it has one)."""
    resolved = [_resolve(model, path) for path in paths]
    try:
        traced = trace_outputs(model, size)
    except TargetLayerError as error:
        return _build(_Decision(family="override", decided_by="--target-layer", warning=f"not checked: {error}"),
                      resolved, [_unchecked(model, hint, size)] * len(resolved))
    reshapes = [_reading(model, traced.get(name), hint, size) for name, _ in resolved]
    bad = [f"{name}: {_why_not(traced.get(name))}" for (name, _), reshape in zip(resolved, reshapes, strict=True)
           if reshape is None]
    return _build(_Decision(family="override", decided_by="--target-layer", warning="; ".join(bad) or None),
                  resolved, reshapes)


def _targets(model: nn.Module, option: _Option, reshape: LayerReshape | None, size: ImageSize,
             warning: str | None = None) -> TargetLayers:
    if reshape is None:  # unchecked: the family row's own reshape
        reshape = _unchecked(model, option.hint, size)
    decided = option.reason if option.rule != option.reason else option.rule
    return _build(_Decision(family=option.rule, decided_by=decided, warning=warning), [_resolve(model, option.path)],
                  [reshape])


@dataclass(frozen=True, kw_only=True)
class _Decision:
    """Which rule decided, in words, and what the user should hear about it."""

    family: str
    decided_by: str
    warning: str | None


def _build(decision: _Decision, resolved: list[tuple[str, nn.Module]],
           reshapes: list[LayerReshape | None]) -> TargetLayers:
    """One transform for all layers when they agree and hold tensors; otherwise each layer wrapped with its own."""
    names, layers = [n for n, _ in resolved], [m for _, m in resolved]
    first = reshapes[0]
    shared = len({reshape.name if reshape else None for reshape in reshapes}) == 1 and all(
        reshape is None or reshape.item is None for reshape in reshapes)
    modules: list[nn.Module]
    if shared:
        modules, transform = list(layers), (first or LayerReshape()).transform
    else:
        modules = [ReshapedTarget(layer, r or LayerReshape(), (r or LayerReshape()).inverse)
                   for layer, r in zip(layers, reshapes, strict=True)]
        transform = None
    detail = "; ".join(r.describe() for r in reshapes if r is not None) or "none"
    return TargetLayers(family=decision.family, names=names, modules=modules, reshape_transform=transform,
                        decided_by=decision.decided_by, reshape_detail=detail, warning=decision.warning,
                        layer_reshapes=list(reshapes), layers=list(layers))


def get_submodule(model: nn.Module, path: str) -> nn.Module:
    """The module at `path`: dotted, negative indices, or bracket form (`layer4.-1`, `layer4[-1]`)."""
    return _resolve(model, path)[1]


def candidate_layers(model: nn.Module, img_size: int | tuple[int, int] = 224, last: int = 8) -> list[tuple[str, tuple[int, ...]]]:
    """The last `last` modules whose output is a 4-D tensor with spatial size > 1, in execution order."""
    spatial: list[tuple[str, tuple[int, ...]]] = [
        (name, traced.shape) for name, traced in trace_outputs(model, height_width(img_size)).items()
        if traced.shape is not None and len(traced.shape) == 4 and traced.shape[-1] * traced.shape[-2] > 1]
    return spatial[-last:]


def _matches(family: Family, model: nn.Module, model_name: str | None) -> bool:
    classes = {cls.__name__ for cls in type(model).__mro__}
    name = (model_name or "").lower()
    return bool(classes.intersection(family.classes)) or any(re.search(p, name) for p in family.patterns)


def _split(path: str) -> list[str]:
    return [part for part in re.sub(r"\[([^\]]*)\]", r".\1", path.strip()).split(".") if part]


def _resolve(model: nn.Module, path: str) -> tuple[str, nn.Module]:
    """(canonical dotted name, module) for `path`; unknown parts raise a UsageError naming nearby modules."""
    module: nn.Module = model
    names: list[str] = []
    for part in _split(path) or [""]:
        children = list(module.named_children())
        child = module._modules.get(part)
        if child is not None:
            name, module = part, child
        elif re.fullmatch(r"-?\d+", part) and -len(children) <= int(part) < len(children):
            name, module = children[int(part)]
        else:
            where = ".".join(names) or "the model"
            options = ", ".join(n for n, _ in children[:8]) or "none"
            near = difflib.get_close_matches(path, [n for n, _ in model.named_modules() if n], n=3)
            hint = f"; did you mean {', '.join(near)}" if near else ""
            raise UsageError(f"no module {path!r}: {part!r} is not a child of {where} (children: {options}){hint}")
        names.append(name)
    return ".".join(names), module


def _exists(model: nn.Module, path: str) -> bool:
    try:
        _resolve(model, path)
    except UsageError:
        return False
    return True
