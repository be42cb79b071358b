"""What a model says about itself, read before any family row is needed: timm's `feature_info` (checked against the
real module names), `output_fmt`, `num_prefix_tokens`, `patch_embed` sizes and pooling, and a transformers config.

Each reader takes any `nn.Module` and answers None when the model does not say.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from camviz.discovery.spec import ImageSize, height_width

DEFAULT_SIZE: ImageSize = (224, 224)


@dataclass(frozen=True)
class Candidate:
    """A target layer the metadata points to, the rule that chose it and why, in words."""

    path: str  # dotted named_modules() name
    rule: str  # "timm_token_pool" | "feature_info"
    reason: str


def model_input_size(model: nn.Module) -> ImageSize:
    """The input size the model was built for: an `img_size` it or one of its modules keeps (timm's fixed-size models
    built at another size: `patch_embed.img_size`, `pixel_embed.img_size`...), a transformers `config.image_size`,
    timm's `pretrained_cfg["input_size"]`, else 224 x 224."""
    kept = (getattr(module, "img_size", None) for module in model.modules())
    sizes = (
        next((size for size in kept if _is_size(size)), None),
        getattr(getattr(model, "config", None), "image_size", None),
        (getattr(model, "pretrained_cfg", None) or {}).get("input_size"),
    )
    size = next((size for size in sizes if _is_size(size)), None)
    return height_width(size) if size is not None else DEFAULT_SIZE


def _is_size(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value > 0
    return isinstance(value, (tuple, list)) and 1 <= len(value) <= 3 and all(
        isinstance(v, int) and v > 0 for v in value)


def prefix_tokens(model: nn.Module) -> int | None:
    """timm's `num_prefix_tokens` (class, distillation and register tokens before the patches), if the model says."""
    count = getattr(model, "num_prefix_tokens", None)
    return count if isinstance(count, int) else None


def channels_last(model: nn.Module) -> bool:
    """Whether timm marks the model's features as channels-last (`output_fmt == "NHWC"`)."""
    return str(getattr(model, "output_fmt", "")).upper() == "NHWC"


def class_token_pooling(model: nn.Module) -> bool:
    """Whether the head reads the class token (timm `global_pool == "token"`): the last block's output then
    matters only at that token, and its pre-norm is the target, as for ViT."""
    return getattr(model, "global_pool", None) == "token"


def block_norms(called: list[str], last: int = 6) -> list[str]:
    """The last-called norms of blocks (`blocks.11.norm1`, TNT's `norm_out`, CoaT's `norm14`), latest first: the
    pre-norms are among them. A model's final norm (a top-level `norm`, `fc_norm`) and an MLP's inner norm are not."""
    norms = [name for name in reversed(called) if "." in name and name.rsplit(".", 1)[-1].startswith("norm")
             and not name.rsplit(".", 2)[-2].startswith("mlp")]
    return norms[:last]


def feature_info_module(model: nn.Module) -> tuple[str, str] | None:
    """(real module name, the name timm lists) for `feature_info[-1]`: the listed name when it exists, else the
    shortest module name ending with it (a model nested under `encoder.`), else the listed name as it is (stale:
    MViTv2 lists `block.3` for `stages.3`); None when timm lists none."""
    listed = _feature_info_name(model)
    if not listed:
        return None
    names = [name for name, _ in model.named_modules() if name]
    if listed in names:
        return listed, listed
    nested = sorted((name for name in names if name.endswith("." + listed)), key=len)
    return (nested[0], listed) if nested else (listed, listed)  # stale: the caller finds no such module


def _feature_info_name(model: nn.Module) -> str | None:
    info = getattr(model, "feature_info", None)
    if info is not None and hasattr(info, "module_name"):
        return info.module_name()[-1]
    if isinstance(info, (list, tuple)) and info and isinstance(info[-1], dict):
        return info[-1].get("module")
    return None


def metadata_candidates(model: nn.Module, called: list[str]) -> list[Candidate]:
    """The targets timm's metadata points to, in order: the last pre-norm when the class token decides, then
    `feature_info[-1]`."""
    norms = block_norms(called) if class_token_pooling(model) else []
    found = [Candidate(name, "timm_token_pool", "global_pool='token': the last block's pre-norm") for name in norms]
    listed = feature_info_module(model)
    if listed is not None:
        real, name = listed
        where = f"feature_info[-1] = {name}" + (f" (found as {real})" if real != name else "")
        found.append(Candidate(real, "feature_info", where))
    return found
