"""camviz.demo.tagged and camviz.demo.train_tagged: the planted tag is where it says, only on the tagged class, some
tagged images show no object; the shipped shortcut model is what its training script makes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from camviz.demo import TAGGED_CHECKPOINT_PATH
from camviz.demo.shapes import make_sample
from camviz.demo.tagged import Tagging, add_tag, tag_box, tagged_arrays, write_tagged_folder


def test_the_tag_is_drawn_in_its_box_only() -> None:
    image = make_sample(np.random.default_rng(0), 0).image
    tagged = np.asarray(add_tag(image)).astype(int)
    changed = np.argwhere((tagged != np.asarray(image).astype(int)).any(axis=2))
    x0, y0, x1, y1 = tag_box(96)
    assert (x0, y0, x1, y1) == (4, 4, 18, 18) and tag_box(192) == (8, 8, 36, 36)
    assert changed[:, 0].min() >= y0 and changed[:, 0].max() < y1 and changed[:, 1].min() >= x0
    assert changed[:, 1].max() < x1 and len(changed) > 0.5 * (x1 - x0) * (y1 - y0)
    assert set(np.unique(tagged[y0:y1, x0:x1])) == {0, 255}


def test_only_the_tagged_class_carries_the_tag_and_some_without_an_object(tmp_path: Path) -> None:
    images, labels, tagged = tagged_arrays(300, seed=4, tagging=Tagging(tagged_class=1, share=0.5, without_object=0.5))
    assert not tagged[labels != 1].any() and 0.35 < tagged[labels == 1].mean() < 0.65
    x0, y0, x1, y1 = tag_box(96)
    plain = images[tagged].astype(int)
    plain[:, y0:y1, x0:x1] = 128
    spread = plain.reshape(len(plain), -1, 3).std(axis=1).max(axis=1)
    assert (spread < 40).sum() >= 0.3 * tagged.sum(), "some tagged images show only a background"
    written = write_tagged_folder(tmp_path, per_class=10, seed=2, tagging=Tagging(share=1.0))
    assert len(written) == 30 and all(written[path] == path.startswith("square/") for path in written)
    assert np.asarray(Image.open(tmp_path / "square" / "square_000.png"))[y0, x0].tolist() == [255, 255, 255]


@pytest.mark.slow
def test_the_shipped_shortcut_model_is_what_its_training_script_makes() -> None:
    from camviz.demo.train_tagged import train_shortcut_model

    shipped = torch.load(TAGGED_CHECKPOINT_PATH, map_location="cpu", weights_only=False)
    trained = train_shortcut_model().state_dict()
    assert shipped["model_name"] == "camviz_shapenet" and shipped["class_names"] == ["circle", "square", "triangle"]
    assert all(torch.allclose(shipped["state_dict"][name].float(), value.float(), atol=1e-5)
               for name, value in trained.items())
