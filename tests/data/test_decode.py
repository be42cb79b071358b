"""camviz.data.decode: every image becomes 8-bit RGB or one `ImageDecodeError` line, on real files of every
awkward encoding, broken files, a decompression bomb and random bytes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from camviz.data.decode import decode_image
from camviz.errors import ImageDecodeError


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
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(files["16bit"])
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
    with pytest.raises(ImageDecodeError, match=r"broken\.jpg"):
        decode_image(path)


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("1", (20000, 10000)).save(path)  # 2e8 pixels: over twice PIL's default limit, tiny on disk
    assert path.stat().st_size < 100_000
    with pytest.raises(ImageDecodeError, match="bomb"):
        decode_image(path)


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
def test_decoder_on_random_small_images(tmp_path: Path, *, width, height, mode, fmt, cut) -> None:
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
