"""camviz.data.loader: DataLoader workers decode and stack each batch into one uint8 tensor, and a file that cannot
be decoded travels with its reason, so the run records it and goes on."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from camviz.data.listing import list_image_folder
from camviz.data.loader import DecodedBatch, Loading, SampleDataset, batch_loader
from camviz.data.preprocessing import Preprocessing
from tests.support.images import write_png
from tests.support.manifest import manifest_rows


def test_dataset_turns_broken_files_into_error_items(tmp_path: Path) -> None:
    good = write_png(tmp_path / "cls" / "good.png")
    (tmp_path / "cls" / "bad.png").write_bytes(b"nope")
    samples = list_image_folder(tmp_path).samples
    items = [SampleDataset(samples, Preprocessing((16, 16), (0.5,) * 3, (0.5,) * 3))[i] for i in range(2)]
    by_name = {sample.path.name: (pixels, error) for sample, pixels, error, _ in items}
    assert by_name["bad.png"][0] is None and "bad.png" in by_name["bad.png"][1]
    assert by_name[good.name][0].shape == (16, 16, 3) and by_name[good.name][1] is None


def test_workers_collate_one_uint8_tensor_per_batch_and_keep_failures(tmp_path: Path) -> None:
    for name in ("a.png", "c.png", "d.png"):
        write_png(tmp_path / "cls" / name)
    (tmp_path / "cls" / "b.png").write_bytes(b"nope")
    samples = list_image_folder(tmp_path).samples
    loader = batch_loader(samples, Preprocessing((12, 20), (0.5,) * 3, (0.5,) * 3),
                          Loading(batch_size=4, num_workers=1))
    (batch,) = list(loader)
    assert isinstance(batch, DecodedBatch)
    assert batch.pixels.dtype == torch.uint8 and tuple(batch.pixels.shape) == (3, 12, 20, 3)
    assert [s.path.name for s in batch.samples] == ["a.png", "c.png", "d.png"]
    assert [(s.path.name, "b.png" in error) for s, error in batch.failures] == [("b.png", True)]


def test_workers_normalise_for_the_cpu_device_exactly_as_the_main_process_would(tmp_path: Path) -> None:
    for name in ("a.png", "b.png", "c.png"):
        write_png(tmp_path / "cls" / name)
    samples = list_image_folder(tmp_path).samples
    preprocessing = Preprocessing((12, 20), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    (batch,) = list(batch_loader(samples, preprocessing, Loading(batch_size=4, num_workers=1, normalize=True)))
    expected = preprocessing.normalize(batch.pixels)  # what the main process computed before (same strides too)
    assert batch.inputs.dtype == torch.float32 and batch.inputs.stride() == expected.stride()
    assert torch.equal(batch.inputs, expected)
    (plain,) = list(batch_loader(samples, preprocessing, Loading(batch_size=4, num_workers=1)))
    assert plain.inputs is None and torch.equal(plain.pixels, batch.pixels)


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
