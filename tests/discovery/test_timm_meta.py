"""camviz.discovery.timm_meta: what a timm model says about itself, read from real models."""

from __future__ import annotations

import timm
from timm.models import mvitv2

from camviz.discovery.probe import trace_outputs
from camviz.discovery.timm_meta import (
    block_norms,
    channels_last,
    class_token_pooling,
    feature_info_module,
    metadata_candidates,
    model_input_size,
    prefix_tokens,
)


def test_the_input_size_is_the_one_the_model_was_built_at() -> None:
    assert model_input_size(timm.create_model("test_vit", img_size=(48, 64))) == (48, 64)  # patch_embed.img_size
    assert model_input_size(timm.create_model("tnt_s_legacy_patch16_224", img_size=64, depth=1)) == (64, 64)  # pixel_embed
    assert model_input_size(timm.create_model("resnet10t")) == (176, 176)  # pretrained_cfg["input_size"]


def test_feature_info_names_are_checked_against_the_real_modules() -> None:
    """Gemma4-ViT lists `blocks.1` for `encoder.blocks.1`; MViTv2 lists `block.3`, a name the model lacks."""
    gemma = timm.create_model("gemma4_vit_167m", depth=2, embed_dim=32, num_heads=2)
    mvit = mvitv2.MultiScaleVit(mvitv2.MultiScaleVitCfg(depths=(1, 1, 1, 1), embed_dim=16, num_heads=1), img_size=(64, 64))

    assert feature_info_module(gemma) == ("encoder.blocks.1", "blocks.1")
    assert feature_info_module(mvit) == ("block.3", "block.3")
    assert feature_info_module(timm.create_model("resnet10t")) == ("layer4", "layer4")


def test_class_token_pooling_points_to_the_last_block_pre_norms() -> None:
    """ConViT pools on its class token: its last block's norms come first, latest first, the MLP's inner norm left out."""
    model = timm.create_model("convit_tiny", img_size=32, depth=2, local_up_to_layer=1, embed_dim=48)
    called = list(trace_outputs(model, (32, 32)))

    assert class_token_pooling(model) and prefix_tokens(model) == 1 and not channels_last(model)
    assert block_norms(called)[:2] == ["blocks.1.norm2", "blocks.1.norm1"]
    candidates = [(c.path, c.rule) for c in metadata_candidates(model, called)]
    assert candidates[0] == ("blocks.1.norm2", "timm_token_pool") and candidates[-1] == ("blocks.1", "feature_info")


def test_channels_last_models_say_so() -> None:
    assert channels_last(timm.create_model("mambaout_femto", depths=(1, 1, 1, 1), dims=(8, 16, 24, 32)))
