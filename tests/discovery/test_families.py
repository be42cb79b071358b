"""camviz.discovery.families: the family table is declarative data, and a `--config` preset's `[[family]]` rows
are checked before they are used."""

from __future__ import annotations

from camviz.discovery.families import FAMILIES


def test_family_table_is_declarative_and_covers_the_seed() -> None:
    names = {family.name for family in FAMILIES}

    assert {"resnet", "densenet", "mobilenet", "efficientnet", "inception_v3", "googlenet", "convnext",
            "starnext", "starnet", "moganet", "vit", "swin"} <= names
    assert all(family.paths and (family.patterns or family.classes) for family in FAMILIES)
