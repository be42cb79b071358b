"""camviz.data.ground_truth: mask files read as real users save them (8-bit grey, matplotlib's RGBA, cut-outs whose
alpha is the object, photos' EXIF orientation) give each image's object in the frame its image is decoded in."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from camviz.data.decode import decode_image
from camviz.data.ground_truth import read_ground_truth
from camviz.data.listing import Sample

ROTATE_90_CLOCKWISE = 6  # EXIF orientation: the stored pixels are shown turned 90 degrees clockwise
ORIENTATION = 0x0112


def _object(height: int, width: int) -> np.ndarray:
    """An off-centre rectangle: any turn or flip of the frame moves it."""
    mask = np.zeros((height, width), bool)
    mask[height // 8: height // 2, width // 5: width // 2] = True
    return mask


def _sample(data: Path, relative: str) -> Sample:
    return Sample(index=0, path=data / relative, relative_path=relative, true_class=relative.split("/", maxsplit=1)[0])


def _truth(masks: Path, sample: Sample, height: int, width: int):
    return read_ground_truth(masks, None).object_mask(sample, height, width)


def test_a_mask_saved_by_matplotlib_is_its_grey_values_not_its_opaque_alpha(tmp_path: Path) -> None:
    expected = _object(40, 60)
    path = tmp_path / "masks" / "cat" / "001.png"
    path.parent.mkdir(parents=True)
    plt.imsave(path, expected, cmap="gray")
    assert Image.open(path).mode == "RGBA" and np.asarray(Image.open(path))[..., 3].min() == 255  # opaque alpha
    truth = _truth(tmp_path / "masks", _sample(tmp_path, "cat/001.jpg"), 40, 60)
    assert truth is not None and truth.notes == ()
    np.testing.assert_array_equal(truth.mask, expected)


def test_a_cut_out_whose_colour_is_constant_is_its_alpha(tmp_path: Path) -> None:
    expected = _object(30, 30)
    rgba = np.zeros((30, 30, 4), np.uint8)
    rgba[..., :3] = 255  # one colour everywhere: only the alpha says where the object is
    rgba[..., 3] = expected * 255
    path = tmp_path / "masks" / "cat" / "001.png"
    path.parent.mkdir(parents=True)
    Image.fromarray(rgba).save(path)
    truth = _truth(tmp_path / "masks", _sample(tmp_path, "cat/001.png"), 30, 30)
    np.testing.assert_array_equal(truth.mask, expected)


@pytest.mark.parametrize("fill", [(255, 255, 255, 255), (0, 0, 0, 0)], ids=["white-opaque", "black-clear"])
def test_a_mask_or_box_covering_the_whole_image_is_said_and_not_scored(tmp_path: Path, fill) -> None:
    path = tmp_path / "masks" / "cat" / "001.png"
    path.parent.mkdir(parents=True)
    Image.new("RGBA", (20, 10), fill).save(path)
    truth = _truth(tmp_path / "masks", _sample(tmp_path, "cat/001.png"), 10, 20)
    kinds = [kind for kind, _ in truth.notes]
    assert truth.mask is None and kinds == (["whole"] if fill[0] else ["empty"]), truth.notes
    if fill[0]:
        assert "cat/001.png" in truth.notes[0][1] and "covers the whole image" in truth.notes[0][1]
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("cat/002.png,0,0,20,10\n")
    whole = read_ground_truth(None, boxes).object_mask(_sample(tmp_path, "cat/002.png"), 10, 20)
    assert whole.mask is None and [kind for kind, _ in whole.notes] == ["whole"]


@pytest.mark.parametrize(("size", "image_format", "mask_format"), [
    ((48, 32), "JPEG", "PNG"), ((40, 40), "JPEG", "PNG"), ((40, 40), "PNG", "JPEG"),
], ids=["non-square", "square", "jpeg-mask"])
def test_a_mask_carrying_its_photos_exif_orientation_is_turned_as_the_photo_is(tmp_path: Path, size, image_format,
                                                                                mask_format) -> None:
    width, height = size  # as stored; the image is shown (and decoded) `height` wide and `width` tall
    stored = _object(height, width)
    photo = np.where(stored[..., None], np.uint8([250, 40, 40]), np.uint8([20, 20, 90]))
    exif = Image.Exif()
    exif[ORIENTATION] = ROTATE_90_CLOCKWISE
    suffix = {"JPEG": ".jpg", "PNG": ".png"}
    image_path = tmp_path / "data" / "cat" / f"001{suffix[image_format]}"
    mask_path = tmp_path / "masks" / "cat" / f"001{suffix[mask_format]}"
    for path in (image_path, mask_path):
        path.parent.mkdir(parents=True)
    Image.fromarray(photo).save(image_path, format=image_format, exif=exif, quality=95)
    Image.fromarray(np.uint8(stored) * 255).save(mask_path, format=mask_format, exif=exif, quality=95)
    image = decode_image(image_path)
    assert image.size == (height, width)  # decoded turned: `height` wide
    truth = _truth(tmp_path / "masks", _sample(tmp_path / "data", image_path.relative_to(tmp_path / "data").as_posix()),
                   image.height, image.width)
    shown = np.rot90(stored, k=-1)  # the stored pixels turned 90 degrees clockwise, as a viewer shows them
    assert truth.notes == (), truth.notes  # no "resized": the mask is in the image's frame
    agreement = (truth.mask == shown).mean()
    assert agreement > (0.99 if mask_format == "PNG" else 0.97), agreement  # a JPEG mask rings at its edges
    object_in_photo = np.asarray(image)[..., 0] > 128
    assert (truth.mask == object_in_photo).mean() > 0.97  # the mask lies on the photo's object as decoded
