"""camviz.cli.main: the console entry point turns every bad input into one line on stderr and its exit code; the
installed `camviz` script runs each command in a real process (one smoke test each, marked `process`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from camviz.demo import write_image_folder
from camviz.discovery.families import FAMILIES
from tests.support.cli import one_error_line
from tests.support.manifest import manifest_rows
from tests.support.mounts import remount, small_tmpfs

CASES = {
    # name: (extra args after --model-path, which model file, expected exit code, words the message must hold)
    "missing model file": (["--image-path", "IMG"], "missing", 1, "not found"),
    "text as model file": (["--image-path", "IMG"], "text", 1, "checkpoint"),
    "truncated model file": (["--image-path", "IMG"], "truncated", 1, "checkpoint"),
    "wrong model name": (["--image-path", "IMG", "--model-name", "resnet18"], "good", 1, "resnet18"),
    "target category out of range": (["--image-path", "IMG", "--target-category", "3"], "good", 2, "out of range"),
    "unknown method": (["--image-path", "IMG", "--method", "magiccam"], "good", 2, "--method"),
    "unknown target layer": (["--image-path", "IMG", "--target-layer", "stages.9"], "good", 2, "stages"),
    "both inputs": (["--image-path", "IMG", "--data-dir", "DATA"], "good", 2, "exactly one"),
    "neither input": ([], "good", 2, "exactly one"),
    "missing image": (["--image-path", "nowhere.png"], "good", 2, "nowhere.png"),
    "empty data dir": (["--data-dir", "EMPTY"], "good", 2, "no class sub-folders"),
    "output dir under a file": (["--image-path", "IMG", "--output-dir", "FILE/sub"], "good", 1, "--output-dir"),
    "zero samples": (["--data-dir", "DATA", "--num-samples", "0"], "good", 2, "--num-samples"),
    "negative img size": (["--image-path", "IMG", "--img-size", "-5"], "good", 2, "--img-size"),
    "zero batch size": (["--data-dir", "DATA", "--batch-size", "0"], "good", 2, "--batch-size"),
    "not a number": (["--data-dir", "DATA", "--batch-size", "many"], "good", 2, "batch-size"),
    "corrupt single image": (["--image-path", "BROKEN"], "good", 1, "cannot decode"),
    "metrics in single mode": (["--image-path", "IMG", "--metrics"], "good", 2, "--metrics needs --data-dir"),
    "unknown metric": (["--data-dir", "DATA", "--metrics", "road,nonsense"], "good", 2,
                       "unknown metric nonsense; choose from road, confidence, deletion, insertion"),
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, trained_checkpoint) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    write_image_folder(root / "data", per_class=1, seed=3)
    (root / "empty").mkdir()
    (root / "file").write_text("a file, not a folder")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (root / "text.pth").write_text("not a checkpoint")
    (root / "truncated.pth").write_bytes(trained_checkpoint.read_bytes()[:3000])
    return {
        "IMG": root / "data" / "circle" / "circle_000.png", "DATA": root / "data", "EMPTY": root / "empty",
        "FILE": root / "file", "BROKEN": root / "broken.png", "good": trained_checkpoint,
        "missing": root / "missing.pth", "text": root / "text.pth", "truncated": root / "truncated.pth",
    }


def _fill(arg: str, inputs: dict[str, Path]) -> str:
    """Replace a placeholder (`IMG`, `FILE/sub`) by the real path."""
    head, _, rest = arg.partition("/")
    return str(inputs[head] / rest if rest else inputs[head]) if head in inputs else arg


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_one_line_and_exit_code(camviz_main, inputs, tmp_path, case) -> None:
    """Through the entry point in this process (a subprocess per case only adds interpreter start-up)."""
    args, model, code, words = CASES[case]
    args = [_fill(arg, inputs) for arg in args]
    if "--output-dir" not in args:
        args += ["--output-dir", str(tmp_path / "out")]
    result = camviz_main("explain", "--model-path", inputs[model], *args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("camviz:"), result.stderr
    assert words.lower() in lines[0].lower(), lines[0]


def test_a_truncated_checkpoint_is_one_line_through_the_entry_point(camviz_main, inputs, tmp_path) -> None:
    result = camviz_main("explain", "--model-path", inputs["truncated"], "--image-path", inputs["IMG"],
                         "--output-dir", tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("camviz: error:"), result.stderr
    assert "checkpoint" in lines[0].lower() and "Traceback" not in result.stderr


def test_camviz_debug_0_prints_no_traceback(camviz_main, circle_image, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CAMVIZ_DEBUG", "0")
    result = camviz_main("explain", "--image-path", circle_image, "--output-dir", tmp_path, "--model-path",
                         tmp_path / "missing.pth")
    one_error_line(result, 1, "not found")


# The installed script, each command once, in a real process.


@pytest.mark.process
def test_script_explains_one_image(camviz, trained_checkpoint, circle_image, tmp_path) -> None:
    result = camviz("explain", "--model-path", trained_checkpoint, "--image-path", circle_image, "--output-dir",
                    tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["circle_000_gradcam.png", "circle_000_gradcam_overlay.png",
                                                          "run.json"]
    assert cv2.imread(str(tmp_path / "circle_000_gradcam_overlay.png")).shape == (96, 96, 3)
    assert f"wrote {tmp_path / 'circle_000_gradcam.png'}" in result.stdout


@pytest.mark.process
def test_script_explains_a_batch_with_decoding_workers(camviz, trained_checkpoint, small_split, tmp_path) -> None:
    result = camviz("explain", "--model-path", trained_checkpoint, "--data-dir", small_split, "--output-dir", tmp_path,
                    "--num-workers", 2)
    assert result.returncode == 0, result.stderr
    rows = manifest_rows(tmp_path)
    assert len(rows) == 6 and all(row["status"] == "ok" and (tmp_path / row["output"]).is_file() for row in rows)
    assert "processed: 6" in result.stdout and (tmp_path / "index.html").is_file()


@pytest.mark.process
def test_script_prints_layers_as_json(camviz, trained_checkpoint) -> None:
    result = camviz("layers", "--model-path", trained_checkpoint, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert (info["model_name"], info["target_layers"], info["img_size"]) == ("camviz_shapenet", ["stages.2.3"], 96)
    assert info["class_names"] == ["circle", "square", "triangle"]


@pytest.mark.process
def test_script_prints_the_family_table(camviz) -> None:
    result = camviz("families")
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()[1:-1]] == [family.name for family in FAMILIES]


@pytest.mark.process
def test_script_compares_methods(camviz, trained_checkpoint, circle_image, tmp_path) -> None:
    output = tmp_path / "compare.png"
    result = camviz("compare", "--model-path", trained_checkpoint, "--image-path", circle_image, "--method", "gradcam",
                    "--method", "eigencam", "--output", output, "--cpu")
    assert result.returncode == 0, result.stderr
    assert f"wrote {output}" in result.stdout
    height, width, _ = cv2.imread(str(output)).shape
    assert width > 3 * 3 * 96 and height > 3 * 96  # input and two methods, 96 px panels enlarged 3x


@pytest.mark.process
def test_script_runs_the_demo(camviz, tmp_path) -> None:
    result = camviz("demo", "--per-class", 1, "--output-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.relative_to(tmp_path / "data").as_posix() for p in (tmp_path / "data").rglob("*.png")) == [
        "circle/circle_000.png", "square/square_000.png", "triangle/triangle_000.png"]
    rows = manifest_rows(tmp_path / "gradcam")
    assert [row["true"] for row in rows] == ["circle", "square", "triangle"]
    assert all(row["status"] == "ok" and (tmp_path / "gradcam" / row["output"]).is_file() for row in rows)
    assert "processed: 3" in result.stdout and f"open {(tmp_path / 'gradcam').resolve()}/" in result.stdout


@pytest.mark.slow
def test_the_shortcut_demo_ends_with_an_audit_that_finds_the_tag(camviz_main, tmp_path) -> None:
    result = camviz_main("demo", "--shortcut", "--output-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "30 synthetic images per class" in result.stdout and "tag in the top-left corner" in result.stdout
    flagged = [line.strip() for line in result.stdout.splitlines() if "same place" in line]
    assert len(flagged) == 1 and flagged[0].startswith("square/") and "(top left)" in flagged[0], result.stdout
    assert (tmp_path / "gradcam" / "audit.csv").is_file() and (tmp_path / "gradcam" / "audit_square.png").is_file()


def test_demo_data_holds_what_it_says_after_an_earlier_demo(camviz_main, tmp_path) -> None:
    assert camviz_main("demo", "--output-dir", tmp_path).returncode == 0  # 4 per class
    result = camviz_main("demo", "--per-class", 1, "--output-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 synthetic images per class" in result.stdout and "processed: 3" in result.stdout
    assert len(list((tmp_path / "data").rglob("*.png"))) == 3
    assert len(manifest_rows(tmp_path / "gradcam")) == 3


@pytest.mark.parametrize("count", [0, -1])
def test_demo_per_class_below_one_is_a_usage_error_on_that_option(camviz_main, tmp_path, count: int) -> None:
    result = camviz_main("demo", "--per-class", count, "--output-dir", tmp_path)
    assert result.returncode == 2 and "--per-class" in result.stderr and "--data-dir" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_demo_in_a_read_only_folder_is_one_line_naming_output_dir(camviz_main, tmp_path, monkeypatch) -> None:
    with small_tmpfs(tmp_path / "ro", "1m") as folder:
        remount(folder, "ro")
        monkeypatch.chdir(folder)
        result = camviz_main("demo")
        monkeypatch.chdir(tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.startswith("camviz:")]
    assert result.returncode != 0 and len(lines) == 1 and "--output-dir" in lines[0], result.stderr


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_the_command_lets_idle_openmp_threads_sleep_unless_told_otherwise(given: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | ({"OMP_WAIT_POLICY": given} if given else {})
    code = "import camviz.cli, os, sys; print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.split() == [expected, "False"]  # set before torch (and its OpenMP) is loaded
