"""The per-family lookup table: how to recognise an architecture family and where its Grad-CAM target is.

Data only, plus the rows a `--config` preset adds (`[[family]]`); `camviz.discovery.layers` resolves with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from camviz.discovery.reshapes import Layout
from camviz.errors import UsageError

_STAGES = ("stages.-1.-1", "stages.-1.blocks.-1")


@dataclass(frozen=True, kw_only=True)
class Family:
    """One row of the lookup table: how to recognise a family and where its target layer is."""

    name: str
    patterns: tuple[str, ...] = ()  # regexes searched in the lower-cased model name
    classes: tuple[str, ...] = ()  # class names of the model (any class in its MRO)
    paths: tuple[str, ...]  # target-layer paths, tried in order; the first that exists wins
    reshape: Layout | None = None  # None (NCHW, or decided by the dry forward) | Layout.TOKENS | Layout.NHWC


def _transformers_row(name: str, classes: tuple[str, ...], prefix: str, tails: tuple[str, ...],
                      reshape: Layout | None = None) -> Family:
    """A Hugging Face transformers family: its own class names, each tail under its base-model prefix."""
    return Family(name=name, classes=classes, paths=tuple(f"{prefix}.{tail}" for tail in tails), reshape=reshape)


_PRE_NORM = ("layers.-1.layernorm_before", "encoder.layer.-1.layernorm_before")  # transformers 5.x, 4.x

_DINO_PRE_NORM = ("encoder.layer.-1.norm1", "layers.-1.norm1")

TRANSFORMERS_FAMILIES: tuple[Family, ...] = (  # first: their class names and paths are transformers' own
    _transformers_row("hf_vit", ("ViTForImageClassification",), "vit", _PRE_NORM, Layout.TOKENS),
    _transformers_row("hf_deit", ("DeiTForImageClassification", "DeiTForImageClassificationWithTeacher"), "deit",
                      _PRE_NORM, Layout.TOKENS),
    _transformers_row("hf_beit", ("BeitForImageClassification",), "beit", _PRE_NORM, Layout.TOKENS),
    _transformers_row("hf_dinov2", ("Dinov2ForImageClassification",), "dinov2", _DINO_PRE_NORM, Layout.TOKENS),
    _transformers_row("hf_dinov2_reg", ("Dinov2WithRegistersForImageClassification",), "dinov2_with_registers",
                      _DINO_PRE_NORM, Layout.TOKENS),
    _transformers_row("hf_convnext", ("ConvNextForImageClassification",), "convnext", ("encoder.stages.-1",)),
    _transformers_row("hf_convnextv2", ("ConvNextV2ForImageClassification",), "convnextv2", ("encoder.stages.-1",)),
    _transformers_row("hf_resnet", ("ResNetForImageClassification",), "resnet", ("encoder.stages.-1",)),
    # a Swin stage returns a tuple: its output is read after the final norm, tokens on the last stage's grid
    _transformers_row("hf_swin", ("SwinForImageClassification",), "swin", ("layernorm",), Layout.TOKENS),
    _transformers_row("hf_swinv2", ("Swinv2ForImageClassification",), "swinv2", ("layernorm",), Layout.TOKENS),
)

FAMILIES: tuple[Family, ...] = (
    *TRANSFORMERS_FAMILIES,
    Family(name="resnet", patterns=(r"^(resnet|resnext|wide_resnet|seresnet|ecaresnet|skresnet)",),
           classes=("ResNet",), paths=("layer4.-1",)),
    Family(name="densenet", patterns=(r"^densenet",), classes=("DenseNet",), paths=("features.-1",)),
    Family(name="mobilenet", patterns=(r"mobilenet",), classes=("MobileNetV2", "MobileNetV3"),
           paths=("features.-1", "blocks.-1")),
    Family(name="efficientnet", patterns=(r"efficientnet",), classes=("EfficientNet",),
           paths=("blocks.-1", "features.-1")),
    Family(name="inception_v3", patterns=(r"inception_v3",), classes=("Inception3", "InceptionV3"),
           paths=("Mixed_7c",)),
    Family(name="googlenet", patterns=(r"^googlenet",), classes=("GoogLeNet",), paths=("inception5b",)),
    Family(name="convnext", patterns=(r"convnext",), classes=("ConvNeXt",),
           paths=("stages.-1.blocks.-1", "stages.-1.-1", "features.-1.-1")),
    Family(name="starnext", patterns=(r"starnext",), classes=("StarNeXt",), paths=_STAGES),
    Family(name="starnet", patterns=(r"starnet",), classes=("StarNet",), paths=_STAGES),
    Family(name="moganet", patterns=(r"moganet",), classes=("MogaNet",), paths=("blocks4.-1", *_STAGES)),
    Family(name="vit", patterns=(r"^(vit|deit)",), classes=("VisionTransformer",),
           paths=("blocks.-1.norm1", "encoder.layers.-1.ln_1"), reshape=Layout.TOKENS),
    Family(name="swin", patterns=(r"^swin",), classes=("SwinTransformer", "SwinTransformerV2"),
           paths=("layers.-1.blocks.-1", "features.-1.-1"), reshape=Layout.NHWC),
)


def family_from_config(entry: dict) -> Family:
    """A family-table row from a preset's `[[family]]` table (name, paths, patterns and/or classes, reshape)."""
    allowed = {"name", "patterns", "classes", "paths", "reshape"}
    unknown = sorted(set(entry) - allowed)
    if unknown or "name" not in entry or not entry.get("paths"):
        raise UsageError(
            f"[[family]] {entry.get('name', '?')!r}: needs name and paths, may have patterns, classes, reshape"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    if not entry.get("patterns") and not entry.get("classes"):
        raise UsageError(f"[[family]] {entry['name']!r}: give patterns (model-name regexes) or classes to match")
    for key in ("patterns", "classes", "paths"):
        if not isinstance(entry.get(key, []), list) or not all(isinstance(item, str) for item in entry.get(key, [])):
            raise UsageError(f"[[family]] {entry['name']!r}: {key} must be a list of strings")
    for pattern in entry.get("patterns", ()):
        try:
            re.compile(pattern)
        except re.error as error:
            raise UsageError(
                f"[[family]] {entry['name']!r}: pattern {pattern!r} is not a valid regex ({error})"
            ) from error
    reshape = entry.get("reshape")
    if reshape not in (None, Layout.TOKENS.value, Layout.NHWC.value):
        raise UsageError(f"[[family]] {entry['name']!r}: reshape must be vit or nhwc (got {reshape!r})")
    return Family(name=str(entry["name"]), patterns=tuple(entry.get("patterns", ())),
                  classes=tuple(entry.get("classes", ())), paths=tuple(entry["paths"]),
                  reshape=Layout(reshape) if reshape is not None else None)
