"""`camviz explain` over a folder with files that cannot be decoded (empty, truncated, text, a decompression bomb)
beside odd but valid ones: the broken ones are recorded, the run goes on, and it exits 3."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from tests.support.manifest import manifest_rows


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


def test_broken_images_are_recorded_and_the_run_goes_on(camviz_main, trained_checkpoint, tmp_path) -> None:
    data = tmp_path / "data"
    (data / "circle").mkdir(parents=True)
    (data / "square").mkdir()
    good, bad = _good_files(data / "circle"), _bad_files(data / "square")
    for junk in (".DS_Store", "Thumbs.db", "notes.txt"):
        (data / "square" / junk).write_bytes(b"junk")
    out = tmp_path / "out"
    result = camviz_main("explain", "--model-path", trained_checkpoint, "--data-dir", data, "--output-dir", out,
                         "--batch-size", 3, "--num-workers", 2)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    rows = {row["path"].split("/")[1]: row for row in manifest_rows(out)}
    assert set(rows) == set(good) | set(bad)
    for name in good:
        assert rows[name]["status"] == "ok" and (out / rows[name]["output"]).is_file(), name
    for name in bad:
        assert rows[name]["status"] == "error" and rows[name]["error"] and not rows[name]["output"], name
    assert len(list(out.glob("gradcam_*.png"))) == len(good)
    assert f"processed: {len(good)}" in result.stdout and f"skipped (errors): {len(bad)}" in result.stdout
