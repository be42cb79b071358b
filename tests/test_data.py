"""camviz.data: listing, selection, robust decoding and preprocessing, on real files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import torch
from PIL import Image

from camviz.data.decode import decode_image
from camviz.data.listing import list_image_folder
from camviz.data.loader import DecodedBatch, SampleDataset, batch_loader
from camviz.data.preprocessing import Preprocessing
from camviz.data.sampling import filter_classes, sample_subset, shard
from camviz.output.figures import display_image
from camviz.errors import ImageDecodeError, UsageError


def _png(path: Path, colour=(200, 30, 30), size=(20, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for name in ("b_cls/2.png", "b_cls/1.JPG", "a_cls/z.png", "a_cls/sub/y.png", "c cls/Ärger 1.png"):
        _png(root / name)
    (root / "a_cls" / ".DS_Store").write_bytes(b"\0\1")
    (root / "a_cls" / "Thumbs.db").write_bytes(b"\0\1")
    (root / "a_cls" / "notes.txt").write_text("not an image")
    (root / ".hidden_dir").mkdir()
    return root


def test_listing_is_sorted_stable_and_skips_non_images(folder: Path) -> None:
    listing = list_image_folder(folder)
    assert listing.classes == ["a_cls", "b_cls", "c cls"]
    assert [s.relative_path for s in listing.samples] == [
        "a_cls/sub/y.png", "a_cls/z.png", "b_cls/1.JPG", "b_cls/2.png", "c cls/Ärger 1.png",
    ]
    assert [s.index for s in listing.samples] == [0, 1, 2, 3, 4]
    assert [s.true_class for s in listing.samples] == ["a_cls", "a_cls", "b_cls", "b_cls", "c cls"]


def test_listing_rejects_missing_dir_no_classes_and_no_images(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        list_image_folder(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    _png(tmp_path / "flat" / "loose.png")
    with pytest.raises(UsageError, match="no class sub-folders"):
        list_image_folder(tmp_path / "flat")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    (tmp_path / "empty" / "cls" / "notes.txt").write_text("x")
    with pytest.raises(UsageError, match="no image files"):
        list_image_folder(tmp_path / "empty")


def test_subset_is_seeded_covers_all_classes_and_keeps_index_order(tmp_path: Path) -> None:
    for cls in ("a", "b", "c"):
        for i in range(10):
            _png(tmp_path / cls / f"{i}.png")
    samples = list_image_folder(tmp_path).samples
    chosen = sample_subset(samples, 6, seed=3)
    assert len(chosen) == 6
    assert {s.true_class for s in chosen} == {"a", "b", "c"}
    assert [s.index for s in chosen] == sorted(s.index for s in chosen)
    assert chosen == sample_subset(samples, 6, seed=3)
    assert chosen != sample_subset(samples, 6, seed=4)
    assert sample_subset(samples, None, 0) == samples


def test_class_filter_and_unknown_class(folder: Path) -> None:
    listing = list_image_folder(folder)
    kept = filter_classes(listing.samples, ["b_cls"], listing.classes)
    assert [s.relative_path for s in kept] == ["b_cls/1.JPG", "b_cls/2.png"]
    with pytest.raises(UsageError, match="nope"):
        filter_classes(listing.samples, ["nope"], listing.classes)


def test_shards_are_disjoint_and_cover_everything(folder: Path) -> None:
    samples = list_image_folder(folder).samples
    shards = [shard(samples, rank, 3) for rank in range(3)]
    assert sorted(s.index for part in shards for s in part) == [s.index for s in samples]


def _encodings(tmp_path: Path) -> dict[str, Path]:
    """One file per awkward encoding real datasets contain."""
    rgb = np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    files: dict[str, Path] = {}
    files["gray"] = tmp_path / "gray.png"
    Image.fromarray(rgb[..., 0]).save(files["gray"])
    files["palette"] = tmp_path / "palette.gif"
    Image.fromarray(rgb).convert("P").save(files["palette"])
    files["rgba"] = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])).save(files["rgba"])
    files["cmyk"] = tmp_path / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(files["cmyk"])
    files["16bit"] = tmp_path / "deep.png"
    Image.fromarray((rgb[..., 0].astype(np.uint16) * 257)).save(files["16bit"])
    files["multiframe"] = tmp_path / "anim.gif"
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    frames[0].save(files["multiframe"], save_all=True, append_images=frames[1:])
    files["upper"] = tmp_path / "UPPER.JPEG"
    Image.fromarray(rgb).save(files["upper"], format="JPEG")
    files["unicode"] = tmp_path / "снимок с пробелом.png"
    Image.fromarray(rgb).save(files["unicode"])
    return files


def test_decoder_handles_every_encoding(tmp_path: Path) -> None:
    for kind, path in _encodings(tmp_path).items():
        image = decode_image(path)
        assert image.mode == "RGB", kind
        assert image.size == (32, 24), kind


def test_decoder_applies_exif_orientation(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    Image.new("RGB", (40, 20), (0, 200, 0)).save(path, exif=exif)
    assert decode_image(path).size == (20, 40)


def test_decoder_composites_transparency_on_white(tmp_path: Path) -> None:
    path = tmp_path / "clear.png"
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(path)
    assert np.asarray(decode_image(path)).min() == 255


@pytest.mark.parametrize(
    "content", [b"", b"this is text, not a JPEG", "truncated"], ids=["zero-bytes", "text-as-jpg", "truncated"]
)
def test_broken_files_raise_camviz_error(tmp_path: Path, content) -> None:
    path = tmp_path / "broken.jpg"
    if content == "truncated":
        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, format="JPEG")
        content = buffer.getvalue()[:200]
    path.write_bytes(content)
    with pytest.raises(ImageDecodeError, match="broken.jpg"):
        decode_image(path)


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("1", (20000, 10000)).save(path)  # 2e8 pixels: over twice PIL's default limit, tiny on disk
    assert path.stat().st_size < 100_000
    with pytest.raises(ImageDecodeError, match="bomb"):
        decode_image(path)


def test_dataset_turns_broken_files_into_error_items(tmp_path: Path) -> None:
    good = _png(tmp_path / "cls" / "good.png")
    (tmp_path / "cls" / "bad.png").write_bytes(b"nope")
    samples = list_image_folder(tmp_path).samples
    items = [SampleDataset(samples, Preprocessing((16, 16), (0.5,) * 3, (0.5,) * 3))[i] for i in range(2)]
    by_name = {sample.path.name: (pixels, error) for sample, pixels, error in items}
    assert by_name["bad.png"][0] is None and "bad.png" in by_name["bad.png"][1]
    assert by_name[good.name][0].shape == (16, 16, 3) and by_name[good.name][1] is None


def test_workers_collate_one_uint8_tensor_per_batch_and_keep_failures(tmp_path: Path) -> None:
    for name in ("a.png", "c.png", "d.png"):
        _png(tmp_path / "cls" / name)
    (tmp_path / "cls" / "b.png").write_bytes(b"nope")
    samples = list_image_folder(tmp_path).samples
    loader = batch_loader(samples, Preprocessing((12, 20), (0.5,) * 3, (0.5,) * 3), batch_size=4, num_workers=1)
    (batch,) = list(loader)
    assert isinstance(batch, DecodedBatch)
    assert batch.pixels.dtype == torch.uint8 and tuple(batch.pixels.shape) == (3, 12, 20, 3)
    assert [s.path.name for s in batch.samples] == ["a.png", "c.png", "d.png"]
    assert [(s.path.name, "b.png" in error) for s, error in batch.failures] == [("b.png", True)]


def test_preprocessing_resizes_without_crop_and_normalises() -> None:
    image = Image.new("RGB", (40, 10), (255, 0, 127))
    prep = Preprocessing((8, 8), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    pixels = prep.pixels(image)
    assert pixels.shape == (8, 8, 3) and pixels.dtype == np.uint8
    tensor = prep.normalize(torch.from_numpy(pixels[None]))
    assert tensor.shape == (1, 3, 8, 8) and tensor.dtype == torch.float32
    assert tensor[0, 0].max().item() == pytest.approx(2.0) and tensor[0, 1].min().item() == pytest.approx(-2.0)
    expected = (np.asarray(image.resize((8, 8), Image.Resampling.BILINEAR), np.float32) / 255.0 - 0.5) / 0.25
    assert np.array_equal(tensor[0].permute(1, 2, 0).numpy(), expected)  # bit for bit the float path's input


def test_preprocessing_to_one_channel_and_non_square() -> None:
    image = Image.new("RGB", (40, 10), (90, 90, 90))
    prep = Preprocessing((6, 10), (0.5,), (0.5,), channels=1)
    pixels = prep.pixels(image)
    assert pixels.shape == (6, 10, 1) and int(pixels.min()) == int(pixels.max()) == 90
    assert prep.normalize(torch.from_numpy(pixels[None])).shape == (1, 1, 6, 10)
    display = display_image(pixels)
    assert display.shape == (6, 10, 3) and display.dtype == np.float32 and display.max() == pytest.approx(90 / 255)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2048))
def test_decoder_on_random_bytes_returns_rgb_or_camviz_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "random.png"
    path.write_bytes(data)
    try:
        image = decode_image(path)
    except ImageDecodeError:
        return
    assert image.mode == "RGB"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    width=st.integers(1, 12), height=st.integers(1, 12),
    mode=st.sampled_from(["1", "L", "P", "RGB", "RGBA", "LA", "I;16", "CMYK"]),
    fmt=st.sampled_from(["PNG", "TIFF", "BMP", "GIF", "WEBP"]),
    cut=st.integers(0, 64),
)
def test_decoder_on_random_small_images(tmp_path: Path, width, height, mode, fmt, cut) -> None:
    buffer = io.BytesIO()
    try:
        Image.new(mode, (width, height)).save(buffer, format=fmt)
    except (OSError, ValueError, KeyError):
        return  # this format cannot store this mode; nothing to decode
    data = buffer.getvalue()
    path = tmp_path / f"small.{fmt.lower()}"
    path.write_bytes(data[: len(data) - cut] if cut else data)
    try:
        image = decode_image(path)
    except ImageDecodeError:
        return
    assert image.mode == "RGB" and image.size[0] >= 1
