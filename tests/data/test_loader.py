"""camviz.data.loader: DataLoader workers decode and stack each batch into one uint8 tensor, and a file that cannot
be decoded travels with its reason, so the run records it and goes on."""

from __future__ import annotations

from pathlib import Path

import torch

from camviz.data.listing import list_image_folder
from camviz.data.loader import DecodedBatch, Loading, SampleDataset, batch_loader
from camviz.data.preprocessing import Preprocessing
from tests.support.images import write_png


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
