"""What `--metrics` and `--masks` / `--boxes` cost (issue 19): img/s of `camviz explain` with and without them.

Times whole `camviz explain --cpu` processes (wall clock, start-up included) on a random-init timm resnet18 at
224 px over synthetic 256x256 JPEGs with their object masks and boxes, variants interleaved round-robin (median of
`--rounds`), so the ratios come from one run on one machine. Then, in this process, the seconds per image of each
`--metrics` score alone (`faithfulness_scores` with one metric name), on the same model and size.

Run (not collected by pytest; minutes on a small CPU box):

    .venv/bin/python tests/benchmarks/trust_cost.py --n 16 --rounds 1 --json trust.json
    .venv/bin/python tests/benchmarks/trust_cost.py --n 64 --rounds 2 --variants plain,masks,boxes,masks+boxes \
        --no-metric-seconds
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CLASSES = ("alpha", "beta", "gamma", "delta")
VARIANTS: dict[str, tuple[str, ...]] = {
    "plain": (),
    "masks": ("--masks", "{masks}"),
    "boxes": ("--boxes", "{boxes}"),
    "masks+boxes": ("--masks", "{masks}", "--boxes", "{boxes}"),
    "metrics": ("--metrics",),
    "metrics+masks": ("--metrics", "--masks", "{masks}"),
}


def write_data(root: Path, n: int) -> tuple[Path, Path, Path]:
    """`n` 256x256 JPEGs (a filled rectangle on noise) in class folders, PNG masks of the rectangles, a boxes CSV."""
    from PIL import Image

    rng = np.random.default_rng(0)
    data, masks, rows = root / "data", root / "masks", []
    for i in range(n):
        name = f"{CLASSES[i % len(CLASSES)]}/{i:04d}"
        image = rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)
        x0, y0 = (int(v) for v in rng.integers(0, 160, 2))
        image[y0 : y0 + 80, x0 : x0 + 90] = rng.integers(0, 255, 3)
        mask = np.zeros((256, 256), np.uint8)
        mask[y0 : y0 + 80, x0 : x0 + 90] = 255
        for folder, array, ext in ((data, image, ".jpg"), (masks, mask, ".png")):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save((folder / name).with_suffix(ext))
        rows.append([f"{name}.jpg", x0, y0, x0 + 90, y0 + 80])
    boxes = root / "boxes.csv"
    with boxes.open("w", newline="") as file:
        csv.writer(file).writerows(rows)
    return data, masks, boxes


def write_checkpoint(path: Path) -> Path:
    import timm
    import torch

    torch.manual_seed(0)
    model = timm.create_model("resnet18", pretrained=False, num_classes=len(CLASSES))
    torch.save({"model_name": "resnet18", "class_names": list(CLASSES), "img_size": 224,
                "state_dict": model.state_dict()}, path)
    return path


def time_variant(args: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr[-2000:]}")
    return elapsed


def cli_throughput(work: Path, n: int, rounds: int, variants: list[str]) -> dict[str, float]:
    """img/s of each variant (median wall time over the rounds, interleaved)."""
    data, masks, boxes = write_data(work, n)
    checkpoint = write_checkpoint(work / "resnet18.pth")
    camviz = str(Path(sys.executable).parent / "camviz")
    times: dict[str, list[float]] = {name: [] for name in variants}
    for round_number in range(rounds):
        for name in variants:
            extra = VARIANTS[name]
            out = work / f"out_{name}_{round_number}"
            args = [camviz, "explain", "--model-path", str(checkpoint), "--data-dir", str(data), "--output-dir",
                    str(out), "--cpu", "--batch-size", "8",
                    *(part.format(masks=masks, boxes=boxes) for part in extra)]
            times[name].append(time_variant(args))
            print(f"{name}: {times[name][-1]:.1f} s", flush=True)
    return {name: n / statistics.median(values) for name, values in times.items()}


def metric_seconds(images: int = 8) -> dict[str, float]:
    """Seconds per image of each `--metrics` score alone, in this process (resnet18, 224 px, CPU)."""
    import timm
    import torch

    from camviz.cam.engine import CamEngine
    from camviz.cam.metrics import METRIC_NAMES, Scoring, faithfulness_scores

    torch.manual_seed(0)
    model = timm.create_model("resnet18", pretrained=False, num_classes=len(CLASSES)).eval()
    inputs = torch.randn(images, 3, 224, 224)
    with CamEngine(model, [model.layer4[-1]]) as engine:
        batch = engine.compute(inputs)
    categories = batch.probabilities.argmax(axis=1).tolist()
    seconds = {}
    for name in METRIC_NAMES:
        start = time.perf_counter()
        faithfulness_scores(model, inputs, batch.cams, categories, Scoring(metrics=[name], batch_size=8))
        seconds[name] = (time.perf_counter() - start) / images
        print(f"{name}: {seconds[name]:.2f} s/image", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="images per run")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--no-metric-seconds", action="store_true", help="skip the in-process seconds per metric")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        throughput = cli_throughput(Path(folder), args.n, args.rounds, args.variants.split(","))
    per_metric = {} if args.no_metric_seconds else metric_seconds()
    plain = throughput["plain"]
    report = {"images": args.n, "rounds": args.rounds, "img_per_s": throughput,
              "ratio_to_plain": {name: value / plain for name, value in throughput.items()},
              "metric_seconds_per_image": per_metric}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
