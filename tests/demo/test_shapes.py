"""camviz.demo.shapes: the synthetic shapes are deterministic, their boxes fit, and an ImageFolder split is written
with every box."""

from __future__ import annotations

import numpy as np

from camviz.demo import write_image_folder
from camviz.demo.shapes import make_arrays, make_sample


def test_generator_is_deterministic_and_boxes_fit() -> None:
    a = make_sample(np.random.default_rng(3), 2)
    b = make_sample(np.random.default_rng(3), 2)
    assert a.box == b.box and np.array_equal(np.asarray(a.image), np.asarray(b.image))
    _, _, boxes = make_arrays(30, seed=5)
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 96).all()
    sides = boxes[:, 2:] - boxes[:, :2]
    assert (sides >= 15).all() and (sides <= 36).all()


def test_write_image_folder(tmp_path) -> None:
    boxes = write_image_folder(tmp_path / "data", per_class=2, seed=1,
                               boxes_path=tmp_path / "b.json")
    files = sorted(p.relative_to(tmp_path / "data").as_posix()
                   for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert files == sorted(boxes) and len(files) == 6
    assert files[0] == "circle/circle_000.png" and (tmp_path / "b.json").is_file()
