"""`camviz sanity`: a real process on a real checkpoint file, and bad input as one line with a non-zero exit."""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from camviz.cam.checks import CONSTANT_CAM_WARNING
from tests.support.checkpoints import BUILDERS, biased_demo_checkpoint
from tests.support.cli import one_error_line


@pytest.mark.process
def test_sanity_command_in_a_real_process(camviz, trained_checkpoint: Path, shapes_split, tmp_path: Path) -> None:
    checkpoint = tmp_path / "shapes.pth"
    torch.save(torch.load(trained_checkpoint, weights_only=True), checkpoint)
    before = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    data_dir, _ = shapes_split
    images = [data_dir / "circle" / "circle_003.png", data_dir / "triangle" / "triangle_007.png"]
    out = tmp_path / "sanity"
    result = camviz("sanity", "--model-path", checkpoint, "--image-path", images[0], "--image-path", images[1],
                    "--output-dir", out, "--cpu")
    assert result.returncode == 0, result.stderr
    summary = (out / "sanity.txt").read_text(encoding="utf-8").splitlines()
    assert any(line.startswith("verdict: ") for line in summary) and all(line in result.stdout for line in summary)
    assert summary[-1].startswith("eMPRT verdict: ")  # the default tests: cascading, random-logit, emprt
    rows = list(csv.DictReader((out / "sanity.csv").open(encoding="utf-8")))
    assert len(rows) == 2 * (1 + 8 + 1)  # the repeat, 8 blocks and the random logit, for each image
    assert [row["spearman"] for row in rows if row["step"] == "repeat"] == ["1.000000", "1.000000"]
    assert {row["image"] for row in rows} == {"circle_003.png", "triangle_007.png"}
    assert (out / "sanity.png").stat().st_size > 10_000
    assert hashlib.sha256(checkpoint.read_bytes()).hexdigest() == before


@pytest.mark.parametrize("case", [
    (["--cpu"], ["exactly one of --image-path"]),
    (["--image-path", "nope.png"], ["nope.png", "does not exist or is not a file"]),
    (["--data-dir", "{data}", "--num-samples", "0"], ["--num-samples must be at least 1"]),
    (["--data-dir", "{data}", "--draws", "0"], ["--draws must be at least 1"]),
    (["--data-dir", "{data}", "--method", "nosuchcam"], ["unknown --method 'nosuchcam'"]),
    (["--data-dir", "{data}", "--target-category", "7"], ["--target-category 7 is out of range"]),
    (["--data-dir", "{data}", "--classes", "hexagon"], ["no such class folder hexagon"]),
    (["--data-dir", "{data}", "--test", "emprt,road"], ["unknown --test 'road'", "cascading, emprt, smprt, random-logit"]),
    (["--data-dir", "{data}", "--test", "smprt", "--smooth-samples", "0"], ["--smooth-samples must be at least 1"]),
])
def test_bad_input_is_one_line_and_exit_2(camviz_main, trained_checkpoint: Path, small_split: Path, tmp_path: Path,
                                          case: tuple[list[str], list[str]]) -> None:
    args, words = case
    out = tmp_path / "out"
    result = camviz_main("sanity", "--model-path", trained_checkpoint, "--output-dir", out,
                         *(arg.format(data=small_split) for arg in args))
    one_error_line(result, 2, *words)
    assert not out.exists() or not list(out.iterdir())


def test_a_checkpoint_that_is_not_one_is_one_line(camviz_main, circle_image: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    result = camviz_main("sanity", "--model-path", broken, "--image-path", circle_image, "--output-dir", tmp_path)
    one_error_line(result, 1)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_checkpoint_source_gets_its_cascade(camviz_main, sources, sources_data: Path, tmp_path: Path,
                                                   name: str) -> None:
    """Lightning, a timm hub folder, grey timm/torchvision, 96x160, a ViT at 64 px, binary and multi-label heads:
    each built fresh with its own class count, channels and size, its blocks named, its maps compared."""
    source = sources[name]
    result = camviz_main("sanity", "--model-path", source.path, *source.flags, "--data-dir", sources_data,
                         "--output-dir", tmp_path, "--draws", "1", "--cpu")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((tmp_path / "sanity.csv").open(encoding="utf-8")))
    first = {row["block"] for row in rows if row["step"] == "1"}
    assert first <= {"fc", "head"} and len(first) == 1  # the classifier first, by its own name
    assert len(rows) == 3 * len({row["step"] for row in rows})  # one image per shape class, every step
    assert "verdict: " in result.stdout


def _rows(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((out / "sanity.csv").open(encoding="utf-8")))


def _verdict(result) -> str:
    return next(line for line in result.stdout.splitlines() if line.startswith("verdict: "))


@pytest.fixture
def seeded_numpy() -> Iterator[None]:
    """numpy's global generator seeded (pytorch-grad-cam's RandomCAM draws from it), and restored after."""
    state = np.random.get_state()
    np.random.seed(0)
    yield
    np.random.set_state(state)


def test_a_method_that_ignores_the_weights_is_not_judged(camviz_main, trained_checkpoint: Path, small_split: Path,
                                                          tmp_path: Path, seeded_numpy: None) -> None:
    """randomcam's maps change between two computations on the untouched model: every later step "falls" too, so
    the falls say nothing about the weights; the repeat is in the table and the verdict says it cannot judge."""
    images = [small_split / shape / f"{shape}_000.png" for shape in ("circle", "square", "triangle")]
    result = camviz_main("sanity", "--model-path", trained_checkpoint, *(f"--image-path={i}" for i in images),
                         "--method", "randomcam", "--draws", 1, "--cpu", "--output-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    repeat = [float(row["spearman"]) for row in _rows(tmp_path) if row["step"] == "repeat"]
    assert len(repeat) == 3 and np.median(repeat) < 0.9
    verdict = _verdict(result)
    assert verdict.startswith("verdict: cannot judge: the trained model's maps computed twice differ"), verdict
    assert "randomcam" in verdict and "depend on the learned weights" not in result.stdout
    assert f"repeat (the trained model's maps computed again): median rho {np.median(repeat):.3f}" in result.stdout


@pytest.mark.parametrize("case", ["1x1 target layer", "constant originals"])
def test_constant_maps_cannot_be_judged(camviz_main, trained_checkpoint: Path, small_split: Path, tmp_path: Path,
                                        case: str) -> None:
    """A 1x1 target layer (after the global pooling) draws every map of every step flat; so does a head that
    ignores the image. An undefined rank correlation used to count as a fall, and the verdict passed."""
    if case == "1x1 target layer":
        flags = ["--model-path", trained_checkpoint, "--target-layer", "pool"]
    else:
        flags = ["--model-path", biased_demo_checkpoint(tmp_path / "biased.pth", ["circle", "square", "triangle"],
                                                        [0.1, 0.5, 0.2])]
    images = [small_split / shape / f"{shape}_000.png" for shape in ("circle", "square")]
    result = camviz_main("sanity", *flags, *(f"--image-path={i}" for i in images), "--draws", 2, "--cpu",
                         "--output-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert {row["spearman"] for row in _rows(tmp_path / "out")} == {""}  # undefined throughout
    verdict = _verdict(result)
    assert verdict == (f"verdict: cannot judge: every map of the trained model is constant, so randomising cannot "
                       f"change how it ranks the pixels: {CONSTANT_CAM_WARNING}")
    assert "depend on the learned weights" not in result.stdout


TINY_MIXER = """
from timm.models import register_model
from timm.models.mlp_mixer import MlpMixer


@register_model
def sanity_tiny_mixer(pretrained=False, **kwargs):
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(key, None)
    return MlpMixer(img_size=64, num_blocks=2, embed_dim=32, **kwargs)
"""


def test_a_zero_initialised_head_gets_random_values_and_the_outputs_say_so(camviz_main, small_split: Path,
                                                                          tmp_path: Path) -> None:
    """timm's MLP-Mixer starts with a zero head: "randomised" so, no gradient reaches the target layer and every
    map of the step is flat (no rank correlation). camviz gives it random values, and the table, figure and
    summary say so."""
    from timm.models.mlp_mixer import MlpMixer

    from camviz.cam.randomise import fill_zero_init

    plugin = tmp_path / "tiny_mixer.py"
    plugin.write_text(TINY_MIXER)
    torch.manual_seed(1)
    trained = MlpMixer(num_classes=3, img_size=64, num_blocks=2, embed_dim=32)
    fill_zero_init(trained)  # trained weights are not zero
    checkpoint = tmp_path / "mixer.pth"
    torch.save({"model_name": "sanity_tiny_mixer", "state_dict": trained.state_dict(), "num_classes": 3}, checkpoint)
    images = [small_split / shape / f"{shape}_000.png" for shape in ("circle", "square")]
    result = camviz_main("sanity", "--model-path", checkpoint, "--plugin", plugin, "--img-size", 64, "--draws", 2,
                         *(f"--image-path={i}" for i in images), "--cpu", "--output-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    head = [row for row in _rows(tmp_path / "out") if row["step"] == "1"]
    assert [row["block"] for row in head] == ["head", "head"] and all(row["spearman"] for row in head)
    assert {row["drawn_by_camviz"] for row in head} == {"weight (zero-initialised)"}
    assert {row["drawn_by_camviz"] for row in _rows(tmp_path / "out") if row["step"] != "1"} == {""}
    assert "so given random values by camviz: weight in head" in result.stdout
    assert "cannot judge" not in _verdict(result)


def test_a_pickled_modules_own_parameters_are_randomised(camviz_main, small_split: Path, tmp_path: Path) -> None:
    """A whole module saved with torch.save whose head holds plain nn.Parameters (no reset_parameters()): the head
    used to keep its trained values at every step (rho 1.000, a false warning in every draw)."""
    from tests.support.plain_head import save_demo_with_plain_head

    checkpoint = tmp_path / "whole.pth"
    save_demo_with_plain_head(checkpoint)
    images = [small_split / shape / f"{shape}_000.png" for shape in ("circle", "square", "triangle")]
    result = camviz_main("sanity", "--model-path", checkpoint, "--trust-checkpoint", "--draws", 2,
                         *(f"--image-path={i}" for i in images), "--cpu", "--output-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    head = [row for row in _rows(tmp_path / "out") if row["step"] == "1"]
    assert {row["block"] for row in head} == {"head"}
    assert min(float(row["spearman"]) for row in head) < 0.99  # the head is random: the maps move
    assert {row["drawn_by_camviz"] for row in head} == {"weight (no reset_parameters); bias (no reset_parameters)"}
    assert "so drawn by camviz (uniform in +-1/sqrt(fan_in), as nn.Linear draws its weights): weight in head; " \
           "bias in head" in result.stdout
    judged = re.search(r"median rank correlation (?:is )?(.*) over 2 random", _verdict(result)).group(1).split(", ")
    assert len(judged) == 2 and "1.00" not in judged, judged


def test_tests_are_chosen_by_name_repeated_or_comma_separated(camviz_main, trained_checkpoint: Path,
                                                              small_split: Path, tmp_path: Path) -> None:
    result = camviz_main("sanity", "--model-path", trained_checkpoint, "--data-dir", small_split, "--output-dir",
                         tmp_path, "--test", "random-logit", "--test", "EMPRT,random-logit", "--cpu")
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["emprt.csv", "emprt.png", "sanity.csv", "sanity.png",
                                                               "sanity.txt"]
    rows = list(csv.DictReader((tmp_path / "sanity.csv").open(encoding="utf-8")))
    assert {row["step"] for row in rows} == {"repeat", "random_logit"}  # no cascade asked for
    assert "random logit verdict: " in result.stdout and "eMPRT verdict: " in result.stdout
    assert "\nverdict: " not in result.stdout
