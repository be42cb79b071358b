"""The per-family lookup table: how to recognise an architecture family and where its Grad-CAM target is.

Data only, plus the rows a `--config` preset adds (`[[family]]`); `camviz.discovery.layers` resolves with it.

Segmentation models get the last stage of their encoder (backbone), as pytorch-grad-cam's segmentation tutorial
does: there the map holds what the model recognised, at a coarse grid. A decoder's last block is one linear layer
from the logits, so its CAM mostly redraws the predicted mask. torchvision's fcn/deeplabv3/lraspp: `backbone.layer4`
(ResNet) or the backbone's last block (`backbone.-1`: MobileNetV3's last conv); transformers: SegFormer's last
stage's norm (tokens, read on the 1/32 grid), UperNet's backbone's last stage (normed, as its decoder reads it), DPT's last ViT
layer (its output block: tokens), MobileViT's last encoder layer. segmentation_models_pytorch's encoders vary: `camviz.discovery.smp` finds theirs.
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

_BACKBONE_LAST = ("backbone.layer4", "backbone.-1")  # torchvision's IntermediateLayerGetter: ResNet, MobileNetV3

SEGMENTATION_FAMILIES: tuple[Family, ...] = (  # before the classifiers': `deeplabv3_mobilenet_v3_large` is no MobileNet
    Family(name="tv_fcn", patterns=(r"^fcn_",), classes=("FCN",), paths=_BACKBONE_LAST),
    Family(name="tv_deeplabv3", patterns=(r"^deeplabv3_",), classes=("DeepLabV3",), paths=_BACKBONE_LAST),
    Family(name="tv_lraspp", patterns=(r"^lraspp_",), classes=("LRASPP",), paths=("backbone.-1",)),
    _transformers_row("hf_segformer", ("SegformerForSemanticSegmentation",), "segformer",
                      ("stages.-1.layer_norm", "encoder.layer_norm.-1")),  # transformers 5.x, 4.x
    # transformers 5 hands a backbone's stage outputs (DPT's layer outputs) to the decoder through hooks of its own,
    # which see the output before any hook camviz adds: the target is a module after them (the backbone's norm of its
    # last feature map) or the stage's last block (the layer's `output`), whose output is the stage's (the layer's),
    # so what the decoder reads passes through the target's hooks
    Family(name="hf_upernet", classes=("UperNetForSemanticSegmentation",),  # ConvNeXt, Swin backbones
           paths=("backbone.hidden_states_norms.-1", "backbone.encoder.stages.-1.layers.-1",
                  "backbone.swin.encoder.layers.-1.blocks.-1")),
    _transformers_row("hf_dpt", ("DPTForSemanticSegmentation",), "dpt", ("encoder.layer.-1.output",), Layout.TOKENS),
    _transformers_row("hf_mobilevit", ("MobileViTForSemanticSegmentation",), "mobilevit", ("encoder.layer.-1",)),
    _transformers_row("hf_mobilevitv2", ("MobileViTV2ForSemanticSegmentation",), "mobilevitv2", ("encoder.layer.-1",)),
)

FAMILIES: tuple[Family, ...] = (
    *TRANSFORMERS_FAMILIES,
    *SEGMENTATION_FAMILIES,
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
