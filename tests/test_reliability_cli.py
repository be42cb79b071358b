"""Bad input and faults through the real `camviz` command: one-line errors, skipped files, kill and resume."""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from camviz.demo import write_image_folder

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


def test_bad_input_from_the_installed_command_is_one_line(camviz, inputs, tmp_path) -> None:
    result = camviz("explain", "--model-path", inputs["truncated"], "--image-path", inputs["IMG"],
                    "--output-dir", tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("camviz: error:"), result.stderr
    assert "checkpoint" in lines[0].lower() and "Traceback" not in result.stderr


def _bad_files(folder: Path) -> list[str]:
    jpeg = io.BytesIO()
    Image.new("RGB", (64, 64), (9, 9, 9)).save(jpeg, format="JPEG")
    (folder / "zero.png").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(jpeg.getvalue()[:150])
    (folder / "text.jpg").write_text("I am not a JPEG")
    Image.new("1", (20000, 10000)).save(folder / "bomb.png")
    return ["zero.png", "truncated.jpg", "text.jpg", "bomb.png"]


def _good_files(folder: Path) -> list[str]:
    rgb = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    Image.fromarray(rgb[..., 0]).save(folder / "gray.png")
    Image.fromarray(rgb).convert("P").save(folder / "palette.gif")
    Image.fromarray(np.dstack([rgb, rgb[..., 0]])).save(folder / "rgba.png")
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(rgb[..., 1].astype(np.uint16) * 257).save(folder / "deep16.png")
    Image.fromarray(rgb).save(folder / "anim.gif", save_all=True, append_images=[Image.fromarray(255 - rgb)])
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(rgb).save(folder / "rotated.JPG", exif=exif)
    Image.fromarray(rgb).save(folder / "名前 with space.PNG")
    return ["gray.png", "palette.gif", "rgba.png", "cmyk.jpg", "deep16.png", "anim.gif", "rotated.JPG",
            "名前 with space.PNG"]


def test_broken_images_are_recorded_and_the_run_goes_on(camviz, trained_checkpoint, tmp_path) -> None:
    data = tmp_path / "data"
    (data / "circle").mkdir(parents=True)
    (data / "square").mkdir()
    good, bad = _good_files(data / "circle"), _bad_files(data / "square")
    for junk in (".DS_Store", "Thumbs.db", "notes.txt"):
        (data / "square" / junk).write_bytes(b"junk")
    out = tmp_path / "out"
    result = camviz("explain", "--model-path", trained_checkpoint, "--data-dir", data, "--output-dir", out,
                    "--batch-size", 3, "--num-workers", 2)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    with (out / "manifest.csv").open(newline="") as file:
        rows = {row["path"].split("/")[1]: row for row in csv.DictReader(file)}
    assert set(rows) == set(good) | set(bad)
    for name in good:
        assert rows[name]["status"] == "ok" and (out / rows[name]["output"]).is_file(), name
    for name in bad:
        assert rows[name]["status"] == "error" and rows[name]["error"] and not rows[name]["output"], name
    assert len(list(out.glob("gradcam_*.png"))) == len(good)
    assert f"processed: {len(good)}" in result.stdout and f"skipped (errors): {len(bad)}" in result.stdout


def test_killed_run_leaves_complete_figures_and_resume_finishes(
    camviz, camviz_executable, trained_checkpoint, tmp_path
) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    write_image_folder(data, per_class=20, seed=11)
    args = ["explain", "--model-path", str(trained_checkpoint), "--data-dir", str(data), "--output-dir", str(out),
            "--batch-size", "1", "--num-workers", "0", "--save-raw"]
    process = subprocess.Popen([str(camviz_executable), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list(out.glob("gradcam_*.png"))) < 5 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    on_disk = {p.name: p.stat().st_mtime_ns for p in out.glob("gradcam_*.png")}
    assert 5 <= len(on_disk) < 60
    with (out / "manifest.csv").open(newline="") as file:  # a figure counts as finished once its row is written
        recorded = {row["output"] for row in csv.DictReader(file) if row.get("status") == "ok"}
    before = {name: mtime for name, mtime in on_disk.items() if name in recorded}
    assert len(before) >= 4
    for name in on_disk:
        with Image.open(out / name) as image:
            image.load()  # raises if the file were cut short
    assert not [p for p in out.iterdir() if p.suffix == ".png" and not p.name.startswith("gradcam_")]

    result = camviz(*args, "--resume")
    assert result.returncode == 0, result.stderr
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("gradcam_*.png")}
    assert len(after) == 60 and len(list(out.glob("gradcam_*.npy"))) == 60
    assert all(after[name] == mtime for name, mtime in before.items()), "finished figures were rewritten"
    assert not list(out.glob(".*.part")), "leftover temporary files are cleaned up"
    with (out / "manifest.csv").open(newline="") as file:
        indices = [int(row["index"]) for row in csv.DictReader(file)]
    assert indices == list(range(60))
