"""What the audit (issue 27) costs: time and extra memory of `camviz audit` on 50,000 maps, the time `--audit` adds to
a batch run of resnet18, and the bytes each image's small maps take on disk.

1. A finished run's folder is written with `--classes` x `--per-class` images (default 50 x 1,000): a manifest row and
   a small map each (`cam_maps.bin`, as a batch run keeps them), the maps drawn around 2 to 4 places per class (a
   strategy each). `camviz audit` on it runs in a fresh process, which reports its wall time and its peak resident
   memory over what it held before the audit began (after its imports).
2. `camviz explain` of torchvision's resnet18 (random weights, saved as a checkpoint) on `--images` synthetic
   224 px images, with and without `--audit`, alternately, `--repeats` times each: the median wall times side by side.
3. What keeping each image's small map costs every batch run (it is always on): microseconds per 224 px CAM.

    PYTHONPATH=. .venv/bin/python tests/benchmarks/audit_cost.py [--classes 50] [--per-class 1000] [--images 96]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

from camviz.output.manifest import MANIFEST_NAME, write_manifest
from camviz.output.result import ImageResult
from camviz.output.run_record import write_run_record
from camviz.output.small_maps import MAPS_NAME, SmallMapWriter


def _maps(count: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """`count` [size, size] maps in [0, 1], blobs around 2 to 4 places (jittered), plus noise."""
    places = rng.uniform(0.15, 0.85, (int(rng.integers(2, 5)), 2))
    chosen = places[rng.integers(0, len(places), count)] + rng.normal(0, 0.04, (count, 2))
    rows, cols = np.mgrid[:size, :size] / size
    distance = (rows[None] - chosen[:, 0, None, None]) ** 2 + (cols[None] - chosen[:, 1, None, None]) ** 2
    return np.clip(np.exp(-distance / (2 * 0.08**2)) + rng.uniform(0, 0.1, (count, size, size)), 0, 1)


def write_finished_run(folder: Path, classes: int, per_class: int) -> None:
    """A batch run's folder as camviz leaves it: run.json, manifest.csv and cam_maps.bin."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    results, writer = [], SmallMapWriter(folder / MAPS_NAME)
    for label in range(classes):
        name = f"class{label:03d}"
        for i, cam in enumerate(_maps(per_class, rng)):
            index = label * per_class + i
            writer.add(index, cam.astype(np.float32))
            results.append(ImageResult(index=index, path=f"{name}/{i:04d}.png", true=name, predicted=(name,),
                                       confidence=(0.9,), explained=(name,), output=f"gradcam_{index:05d}.png"))
    writer.close()
    write_manifest(folder / MANIFEST_NAME, results)
    write_run_record(folder, {"mode": "batch", "model": {"input": {"size": [224, 224]}}, "options": {}})


def child(folder: Path) -> None:
    """In a fresh process: audit the folder; print wall seconds and peak memory over what was held before."""
    from camviz.run.audit import audit_run

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux: imports done, nothing read yet
    start = time.perf_counter()
    result = audit_run(folder)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    clusters = sum(len(one.clusters) for one in result.classes)
    print(json.dumps({"seconds": seconds, "extra_mib": (peak - before) / 1024, "clusters": clusters,
                      "classes": len(result.classes)}))


def audit_of_many_maps(classes: int, per_class: int) -> dict:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / "run"
        write_finished_run(folder, classes, per_class)
        maps_bytes = (folder / MAPS_NAME).stat().st_size
        done = subprocess.run([sys.executable, __file__, "--child", str(folder)], capture_output=True, text=True,
                              check=True)
        return {**json.loads(done.stdout.strip().splitlines()[-1]), "maps": classes * per_class,
                "bytes_per_image": maps_bytes / (classes * per_class)}


def _split(root: Path, images: int) -> Path:
    """`images` random-noise-and-shapes 224 px PNGs over 4 classes."""
    from PIL import Image

    rng = np.random.default_rng(1)
    for i in range(images):
        folder = root / f"c{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:04d}.png")
    return root


def audit_added_to_a_run(images: int, repeats: int) -> dict:
    from camviz import ExplainOptions, InputOptions, ModelOptions, OutputOptions, explain

    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        torch.manual_seed(0)
        torch.save({"model_name": "resnet18", "num_classes": 4,
                    "state_dict": torchvision.models.resnet18(weights=None, num_classes=4).state_dict()},
                   root / "resnet18.pth")
        data = _split(root / "data", images)
        times: dict[bool, list[float]] = {False: [], True: []}
        for repeat in range(repeats):
            for audit in (False, True):
                out = root / f"out_{audit}_{repeat}"
                options = ExplainOptions(model=ModelOptions(path=root / "resnet18.pth", cpu=True),
                                         inputs=InputOptions(data_dir=data),
                                         output=OutputOptions(output_dir=out, audit=audit), batch_size=16)
                start = time.perf_counter()
                explain(options)
                times[audit].append(time.perf_counter() - start)
        maps_bytes = (root / "out_True_0" / MAPS_NAME).stat().st_size
        plain, audited = statistics.median(times[False]), statistics.median(times[True])
        return {"images": images, "plain_s": plain, "audit_s": audited, "added": audited / plain - 1,
                "bytes_per_image": maps_bytes / images}


def keeping_small_maps(count: int = 1000) -> float:
    """Seconds per image that keeping the small map of a 224 px CAM costs a batch run (always on): area-average,
    quantise, append to the file."""
    rng = np.random.default_rng(2)
    cams = rng.uniform(0, 1, (16, 224, 224)).astype(np.float32)
    with tempfile.TemporaryDirectory() as temporary:
        writer = SmallMapWriter(Path(temporary) / MAPS_NAME)
        start = time.perf_counter()
        for index in range(count):
            writer.add(index, cams[index % len(cams)])
        seconds = time.perf_counter() - start
        writer.close()
    return seconds / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=int, default=50)
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    many = audit_of_many_maps(args.classes, args.per_class)
    print(f"camviz audit of {many['maps']} maps ({many['classes']} classes, {many['clusters']} clusters): "
          f"{many['seconds']:.1f} s, {many['extra_mib']:.0f} MiB extra peak memory; "
          f"cam_maps.bin {many['bytes_per_image']:.0f} bytes per image")
    run = audit_added_to_a_run(args.images, args.repeats)
    print(f"resnet18 batch run of {run['images']} images at 224 px (median of {args.repeats}): "
          f"{run['plain_s']:.2f} s without --audit, {run['audit_s']:.2f} s with it: {run['added']:+.1%}; "
          f"{run['bytes_per_image']:.0f} bytes of small maps per image")
    keep = keeping_small_maps()
    print(f"keeping a 224 px CAM's small map (every batch run): {keep * 1e6:.0f} us per image, "
          f"{keep / (run['plain_s'] / run['images']):.2%} of that run's time per image")


if __name__ == "__main__":
    main()
