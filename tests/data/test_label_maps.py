"""camviz.data.label_maps: label maps as users bring them (VOC's palette PNGs with void borders, 8- and 16-bit grey
PNGs, EXIF-turned files) give each image's classes at the model's input size, paired with images as object masks are;
colour masks and labels beyond the classes are one line naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from camviz.data.label_maps import RESIZED, VOID, LabelMap, find_label_maps, read_label_map
from camviz.data.preprocessing import Preprocessing
from camviz.errors import ImageDecodeError, UsageError

ROTATE_90_CLOCKWISE = 6  # EXIF orientation: the stored pixels are shown turned 90 degrees clockwise
ORIENTATION = 0x0112


def _labels(height: int, width: int, classes: int = 3) -> np.ndarray:
    """Off-centre bands of classes 0..classes-1 with a void border around class 1: any turn or flip moves them."""
    labels = np.zeros((height, width), np.uint8)
    for label in range(1, classes):
        labels[height * label // (classes + 1): height * (label + 1) // (classes + 1), width // 5: width // 2] = label
    labels[height // 8, :] = VOID
    return labels


def _voc_palette() -> list[int]:
    """Pascal VOC's colour map (class 1 dark red, 2 dark green, ..., 255 cream), as its PNGs carry it."""
    palette = []
    for label in range(256):
        r = g = b = 0
        for bit in range(8):
            bits = label >> (3 * bit)
            r |= (bits & 1) << (7 - bit)
            g |= ((bits >> 1) & 1) << (7 - bit)
            b |= ((bits >> 2) & 1) << (7 - bit)
        palette += [r, g, b]
    return palette


def _save_palette(path: Path, labels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(labels, mode="P")
    image.putpalette(_voc_palette())
    image.save(path)
    return path


def test_a_voc_palette_png_gives_its_indices_and_its_void_pixels(tmp_path: Path) -> None:
    expected = _labels(30, 40)
    path = _save_palette(tmp_path / "2007_000032.png", expected)
    assert Image.open(path).mode == "P" and np.asarray(Image.open(path).convert("RGB"))[0, 0].tolist() == [0, 0, 0]
    read = read_label_map(path, size=(30, 40), num_classes=21)
    assert isinstance(read, LabelMap) and read.notes == ()
    assert read.labels.dtype == np.int64
    np.testing.assert_array_equal(read.labels, expected)  # indices, not the palette's RGB
    np.testing.assert_array_equal(read.ignored, expected == VOID)
    assert read.ignored is not None and read.ignored.sum() == 40


@pytest.mark.parametrize("mode", ["L", "I;16"])
def test_a_grey_png_gives_its_values_and_a_map_without_void_has_no_ignored_mask(tmp_path: Path, mode: str) -> None:
    expected = _labels(20, 24, classes=4)
    expected[expected == VOID] = 0
    path = tmp_path / "a.png"
    Image.fromarray(expected.astype(np.uint16 if mode == "I;16" else np.uint8)).save(path)
    assert Image.open(path).mode == mode
    read = read_label_map(path, size=(20, 24), num_classes=4)
    np.testing.assert_array_equal(read.labels, expected)
    assert read.ignored is None


def test_a_map_of_another_size_is_stretched_nearest_as_the_image_is_and_says_so(tmp_path: Path) -> None:
    """The preprocessing stretches the image to the model's size (no crop): the map is stretched to the same frame,
    keeping only the values it had (no blend of class 1 and class 3 into a class 2)."""
    labels = np.zeros((40, 60), np.uint8)
    labels[:, 30:] = 3  # right half: class 3
    labels[10:20, 6:12] = 1
    path = _save_palette(tmp_path / "big.png", labels)
    read = read_label_map(path, size=(20, 15), num_classes=4)
    assert read.labels.shape == (20, 15)
    assert set(np.unique(read.labels).tolist()) == {0, 1, 3}
    assert (read.labels[:, 8:] == 3).all() and (read.labels[:, :7] != 3).all()  # the half stays a half
    np.testing.assert_array_equal(read.labels[5:10, 2:3], 1)  # rows 10..20 and columns 6..12 of 40x60, at 20x15
    assert [kind for kind, _ in read.notes] == [RESIZED]
    assert "15x20" in read.notes[0][1] and "nearest" in read.notes[0][1]
    picture = Image.new("RGB", (60, 40))  # the image this map belongs to, as the model sees it
    assert Preprocessing(size=(20, 15), mean=(0.5,) * 3, std=(0.5,) * 3).pixels(picture).shape[:2] == read.labels.shape


def test_void_pixels_stay_void_after_resizing(tmp_path: Path) -> None:
    labels = np.zeros((8, 8), np.uint8)
    labels[:, :4] = VOID
    read = read_label_map(_save_palette(tmp_path / "v.png", labels), size=(16, 16), num_classes=21)
    assert read.ignored is not None
    np.testing.assert_array_equal(read.ignored[:, :8], True)
    np.testing.assert_array_equal(read.ignored[:, 8:], False)


def test_a_map_is_read_in_the_frame_its_image_is_decoded_in(tmp_path: Path) -> None:
    stored = _labels(20, 30)
    path = tmp_path / "turned.png"
    exif = Image.Exif()
    exif[ORIENTATION] = ROTATE_90_CLOCKWISE
    Image.fromarray(stored).save(path, exif=exif)
    read = read_label_map(path, size=(30, 20), num_classes=3)
    np.testing.assert_array_equal(read.labels, np.rot90(stored, k=-1))  # shown turned clockwise


def test_a_label_beyond_the_classes_is_one_line_naming_the_file_the_value_and_the_count(tmp_path: Path) -> None:
    labels = _labels(10, 10)
    labels[0, 0] = 7
    path = _save_palette(tmp_path / "masks" / "cat" / "001.png", labels)
    with pytest.raises(UsageError) as raised:
        read_label_map(path, size=(10, 10), num_classes=3)
    message = str(raised.value)
    assert "\n" not in message
    assert str(path) in message and "value 7" in message and "3 classes" in message and "255" in message


def test_255_is_a_class_not_void_for_a_model_with_more_than_255_classes(tmp_path: Path) -> None:
    labels = np.full((6, 6), VOID, np.uint8)
    read = read_label_map(_save_palette(tmp_path / "p.png", labels), size=(6, 6), num_classes=300)
    assert read.ignored is None and (read.labels == VOID).all()


def test_a_colour_coded_mask_is_refused_in_one_line(tmp_path: Path) -> None:
    path = _save_palette(tmp_path / "p.png", _labels(10, 10))
    rgb = tmp_path / "rgb.png"
    Image.open(path).convert("RGB").save(rgb)
    with pytest.raises(UsageError, match=r"RGB image, not a label map") as raised:
        read_label_map(rgb, size=(10, 10), num_classes=21)
    assert "\n" not in str(raised.value) and str(rgb) in str(raised.value)


def test_an_unreadable_label_map_is_a_decode_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG not really")
    with pytest.raises(ImageDecodeError, match=r"broken\.png"):
        read_label_map(path, size=(4, 4), num_classes=2)


def test_label_maps_pair_with_images_by_relative_path_and_stem_in_any_image_format(tmp_path: Path) -> None:
    masks = tmp_path / "masks"
    first = _save_palette(masks / "cat" / "001.png", _labels(4, 4))
    bmp = masks / "dog" / "sub" / "002.bmp"
    bmp.parent.mkdir(parents=True)
    Image.fromarray(_labels(4, 4)).save(bmp)
    (masks / "cat" / "notes.txt").write_text("not a map")
    found = find_label_maps(masks)
    assert found.path("cat/001.jpg") == first
    assert found.path("dog/sub/002.JPEG") == bmp
    assert found.path("cat/002.jpg") is None and found.path("001.jpg") is None and found.path("cat/notes.jpg") is None


def test_a_masks_path_that_is_not_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a directory"):
        find_label_maps(tmp_path / "missing")
