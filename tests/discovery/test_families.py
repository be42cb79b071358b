"""camviz.discovery.families: the family table is declarative data, and a `--config` preset's `[[family]]` rows
are checked before they are used."""

from __future__ import annotations

from camviz.discovery.families import FAMILIES, family_from_config
from camviz.discovery.reshapes import Layout


def test_family_table_is_declarative_and_covers_the_seed() -> None:
    names = {family.name for family in FAMILIES}

    assert {"resnet", "densenet", "mobilenet", "efficientnet", "inception_v3", "googlenet", "convnext",
            "starnext", "starnet", "moganet", "vit", "swin"} <= names
    assert all(family.paths and (family.patterns or family.classes) for family in FAMILIES)


def test_a_presets_reshape_is_spelled_vit_or_nhwc() -> None:
    row = {"name": "mine", "classes": ["Mine"], "paths": ["blocks.-1"]}
    assert family_from_config({**row, "reshape": "vit"}).reshape is Layout.TOKENS
    assert family_from_config({**row, "reshape": "nhwc"}).reshape is Layout.NHWC
    assert family_from_config(row).reshape is None
