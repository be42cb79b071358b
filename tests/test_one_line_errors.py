"""Inputs that used to end in "internal error" (or a wrong message): each is now one clear line, or a warning."""

from __future__ import annotations

import datetime
import decimal
import fractions
import math
import os
import re
import subprocess
from pathlib import Path

import pytest
import torch

from camviz.discovery.checkpoint import DANGEROUS_MODULES
from camviz.demo import CHECKPOINT_PATH
from camviz.cam.memory import physical_memory


def _one_line(result: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """The one stderr line of a failed run, checked for its exit code and words."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == code and len(lines) == 1 and lines[0].startswith("camviz: error:"), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _single(camviz_main, image: Path, out: Path, *extra: object) -> subprocess.CompletedProcess:
    return camviz_main("explain", "--image-path", image, "--output-dir", out, *extra)


@pytest.fixture(scope="module")
def image(small_split: Path) -> Path:
    return small_split / "circle" / "circle_000.png"


METADATA = {  # key -> (bad value, words of the message)
    "class_names": (5, "`class_names` must be a list"),
    "img_size": ([], "`img_size` must be a positive int"),
    "mean": ("abc", "`mean` must be 3 numbers"),
    "class_to_idx": ({"circle": "zero", "square": "one", "triangle": "two"}, "`class_to_idx` must map"),
    "std": ([0.0, 0.0, 0.0], "`std` must be finite and positive"),
}


@pytest.mark.parametrize("key", METADATA)
def test_checkpoint_metadata_of_the_wrong_type(camviz_main, image, tmp_path, key) -> None:
    checkpoint = torch.load(CHECKPOINT_PATH, weights_only=True)
    if key == "class_to_idx":
        del checkpoint["class_names"]
    checkpoint[key] = METADATA[key][0]
    torch.save(checkpoint, tmp_path / "bad.pth")
    result = _single(camviz_main, image, tmp_path / "out", "--model-path", tmp_path / "bad.pth")
    _one_line(result, 1, METADATA[key][1])


def test_a_refused_pickle_names_every_unsafe_global_dangerous_first(camviz_main, image, tmp_path) -> None:
    checkpoint = torch.load(CHECKPOINT_PATH, weights_only=True)
    checkpoint["extras"] = [os.system, subprocess.Popen, fractions.Fraction(1, 3), datetime.date(2020, 1, 1),
                            decimal.Decimal("1.5"), re.compile("x")]
    torch.save(checkpoint, tmp_path / "pickled.pth")
    result = _single(camviz_main, image, tmp_path / "out", "--model-path", tmp_path / "pickled.pth")
    line = _one_line(result, 1, "--trust-checkpoint")
    named = re.search(r"objects \((.*)\) and unpickling", line).group(1).split(", ")
    expected = torch.serialization.get_unsafe_globals_in_checkpoint(str(tmp_path / "pickled.pth"))
    assert len(named) == len(set(expected)) > 4 and set(named) == set(expected)
    dangerous = sorted(name for name in expected if name.split(".")[0] in DANGEROUS_MODULES)
    assert len(dangerous) == 2 and f"{os.system.__module__}.system" in dangerous  # Popen pickles as commands.Popen
    assert named[:2] == dangerous and named[2:] == sorted(named[2:])


def test_a_target_layer_after_global_pooling_warns_of_a_constant_heatmap(camviz_main, image, tmp_path) -> None:
    result = _single(camviz_main, image, tmp_path, "--model-path", CHECKPOINT_PATH, "--target-layer", "drop")
    assert result.returncode == 0 and "constant heatmap" in result.stderr, result.stderr


def test_an_img_size_no_memory_can_hold_is_refused_before_any_work(camviz_main, image, tmp_path) -> None:
    result = _single(camviz_main, image, tmp_path, "--model-path", CHECKPOINT_PATH, "--img-size", 300000)
    _one_line(result, 2, "--img-size 300000x300000 is too large for this machine")


def test_a_batch_no_memory_can_hold_is_refused_before_any_work(camviz_main, small_split, tmp_path) -> None:
    side = math.isqrt(physical_memory() // 4 // 15)  # one image takes a quarter of the RAM, six of them more
    result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", small_split, "--output-dir",
                         tmp_path, "--img-size", side, "--batch-size", 64)
    _one_line(result, 2, f"--batch-size 6 at {side}x{side} is too large", "smaller --batch-size")


def test_a_broken_family_regex_in_a_preset(camviz_main, image, tmp_path) -> None:
    preset = tmp_path / "preset.toml"
    preset.write_text('[[family]]\nname = "mine"\npatterns = ["(unclosed"]\npaths = ["stages.-1"]\n')
    result = _single(camviz_main, image, tmp_path, "--model-path", CHECKPOINT_PATH, "--config", preset)
    _one_line(result, 2, "pattern '(unclosed' is not a valid regex")


@pytest.mark.parametrize("body, words", [
    ("import sys\nsys.exit(0)\n", "called sys.exit(0) while importing"),
    ("open('/nonexistent/camviz/weights.txt')\n", "failed while importing: FileNotFoundError"),
])
def test_a_plugin_that_exits_or_opens_a_missing_file(camviz_main, image, tmp_path, body, words) -> None:
    plugin = tmp_path / f"plugin_{abs(hash(body))}.py"
    plugin.write_text(body)
    result = _single(camviz_main, image, tmp_path, "--model-path", CHECKPOINT_PATH, "--plugin", plugin)
    assert "plugin file not found" not in _one_line(result, 1, words)


def test_camviz_debug_0_prints_no_traceback(camviz_main, image, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CAMVIZ_DEBUG", "0")
    result = _single(camviz_main, image, tmp_path, "--model-path", tmp_path / "missing.pth")
    _one_line(result, 1, "not found")
