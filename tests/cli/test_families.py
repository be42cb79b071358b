"""camviz.cli.commands `families`, through the entry point: the family table, a row per family."""

from __future__ import annotations

from camviz.discovery.families import FAMILIES


def test_families_prints_the_table(camviz_main) -> None:
    result = camviz_main("families")

    assert result.returncode == 0, result.stderr
    for family in FAMILIES:
        row = next(line for line in result.stdout.splitlines() if line.split()[0] == family.name)
        assert all(path in row for path in family.paths) and (family.reshape or "-") == row.split()[-1]


def test_families_says_which_rule_decides_for_a_checkpoint(tmp_path, camviz_main) -> None:
    """ConViT has no row: timm's `global_pool='token'` decides (the last block's pre-norm, tokens on its grid)."""
    import timm
    import torch

    path = tmp_path / "convit.pth"
    model = timm.create_model("convit_tiny", num_classes=3, img_size=32, depth=2, local_up_to_layer=1, embed_dim=48)
    torch.save({"model_name": "convit_tiny", "img_size": 32, "num_classes": 3, "state_dict": model.state_dict(),
                "model_args": {"depth": 2, "local_up_to_layer": 1, "embed_dim": 48}}, path)

    result = camviz_main("families", "--model-path", path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == ("convit_tiny: rule timm_token_pool (global_pool='token': the last block's "
                                              "pre-norm) → blocks.1.norm1, reshape vit (tokens: 1 prefix + 2x2 grid)")
