"""Host cost per image (issue #18): what camviz's CPU side spends per image when the network is nearly free.

On a GPU the network costs almost nothing and throughput is set by the host. This measures that host cost on any
machine: a near-free network (two strided convolutions, registered as a timm plugin), 224 px input, 8 classes of
384 px JPEGs, three-panel PNG figures, camviz's default flags and `--cpu`. The CLI runs in-process after the heavy
imports, in a fresh process per run with the camviz tree under test first on PYTHONPATH, so several trees are
measured side by side in one invocation (rounds alternate between trees). Per run:

- main thread CPU: `time.thread_time()` around the CLI (batches in, normalisation, the network,
  pytorch-grad-cam's post-processing, the hand-off to the writers);
- writer CPU: the rest of the process (`getrusage(RUSAGE_SELF)` minus the main thread): the writer threads
  (compose, encode, write) and torch's intra-op threads;
- loader CPU: `getrusage(RUSAGE_CHILDREN)`, the DataLoader workers (decode, resize, collate) once joined.

Marginal per image from `--sizes` (default 32 vs 352 images: start-up and model loading cancel), median over
`--rounds`. Printed: ms/image of each part, wall img/s, and the ceilings they imply: serial (everything on one
core) and parallel on N cores (the main thread is serial; the rest spreads over the cores).

    .venv/bin/python tests/benchmarks/host_cost.py                       # this tree
    .venv/bin/python tests/benchmarks/host_cost.py --tree old=/path/to/an/older/checkout --tree new=.

An older tree may predate the package layout (camviz/cli.py, not camviz/cli/): the driver finds either.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from throughput import write_images

CLASSES = tuple(f"class{index}" for index in range(8))
SIDES = (384, 384)  # JPEG width and height
IMG_SIZE = 224
MODEL_NAME = "camviz_hostcost_net"
PARTS = ("main", "writers", "loaders")
REPO = Path(__file__).resolve().parents[2]

PLUGIN = f'''
"""A near-free network for host-cost measurements: two strided convolutions, pool, linear head."""
import torch
from timm.models import register_model
from torch import nn


class TwoConvNet(nn.Module):
    def __init__(self, num_classes=8, in_chans=3):
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(nn.Conv2d(in_chans, 8, 4, stride=4), nn.ReLU(),
                                      nn.Conv2d(8, 16, 4, stride=4), nn.ReLU())
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


@register_model
def {MODEL_NAME}(pretrained=False, num_classes=8, **kwargs):
    model = TwoConvNet(num_classes=num_classes, in_chans=kwargs.get("in_chans", 3))
    model.pretrained_cfg = model.default_cfg = {{
        "input_size": (3, {IMG_SIZE}, {IMG_SIZE}), "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225),
        "num_classes": num_classes, "classifier": "head"}}
    return model
'''

DRIVER = '''
"""One in-process camviz run: argv[1] = JSON list of CLI arguments; prints one JSON line of CPU and wall times."""
import json, os, resource, sys, time

try:  # the CLI module first, as the `camviz` command imports it (it may set environment defaults before torch)
    from camviz.cli.main import main  # the package layout
    import camviz.run.job  # noqa: F401
except ModuleNotFoundError:
    from camviz.cli import main  # older trees: camviz/cli.py
    import camviz.explain  # noqa: F401
import cv2, numpy, PIL.Image, timm, torch, pytorch_grad_cam  # noqa: F401  the heavy imports, before timing

sys.argv = ["camviz", *json.loads(sys.argv[1])]
self_start, children_start = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
wall_start, main_start = time.perf_counter(), time.thread_time()
code = 0
try:
    main()
except SystemExit as exit_status:
    code = exit_status.code or 0
main_cpu, wall = time.thread_time() - main_start, time.perf_counter() - wall_start
self_end, children_end = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)

def cpu(end, start):
    return end.ru_utime + end.ru_stime - start.ru_utime - start.ru_stime

print(json.dumps({"code": code, "wall": wall, "main": main_cpu, "writers": cpu(self_end, self_start) - main_cpu,
                  "loaders": cpu(children_end, children_start), "camviz": __import__("camviz").__file__}))
'''


def write_fixtures(work: Path, sizes: tuple[int, ...]) -> tuple[Path, Path, dict[int, Path]]:
    """The plugin file, a random-init checkpoint of its network, and one image folder per size."""
    import torch

    plugin = work / "hostcost_net.py"
    plugin.write_text(PLUGIN)
    checkpoint = work / "hostcost_net.pth"
    spec = importlib.util.spec_from_file_location("camviz_hostcost_plugin", plugin)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # timm's registry looks the module up
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    model = module.TwoConvNet(num_classes=len(CLASSES))
    torch.save({"model_name": MODEL_NAME, "state_dict": model.state_dict(), "num_classes": len(CLASSES),
                "class_names": list(CLASSES), "img_size": IMG_SIZE}, checkpoint)
    images = {n: write_images(work / f"images_{n}", n, seed=n, classes=CLASSES, sides=SIDES) for n in sizes}
    return plugin, checkpoint, images


def run_once(tree: Path, work: Path, plugin: Path, checkpoint: Path, data: Path, *, label: str) -> dict:
    """One fresh process running `camviz explain` in-process on `data` with `tree` first on PYTHONPATH."""
    out = work / "out" / label
    argv = ["explain", "--model-path", str(checkpoint), "--data-dir", str(data), "--output-dir", str(out),
            "--plugin", str(plugin), "--cpu"]
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    env.pop("CAMVIZ_DEBUG", None)
    result = subprocess.run([sys.executable, str(work / "driver.py"), json.dumps(argv)], capture_output=True,
                            text=True, env=env, cwd=work, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines or json.loads(lines[-1])["code"] != 0:
        raise SystemExit(f"{label}: camviz failed\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    measured = json.loads(lines[-1])
    if not measured["camviz"].startswith(str(tree.resolve())):
        raise SystemExit(f"{label}: imported {measured['camviz']}, not the tree {tree}")
    figures = sum(1 for _ in out.glob("gradcam_[0-9]*.png"))
    expected = sum(1 for _ in data.glob("*/*.jpg"))
    if figures != expected:
        raise SystemExit(f"{label}: wrote {figures} figures, expected {expected}")
    subprocess.run(["rm", "-rf", str(out)], check=True)
    return measured


def measure(trees: dict[str, Path], sizes: tuple[int, int], rounds: int, work: Path) -> dict[str, list[dict]]:
    """Per tree, per round: marginal ms/image of each part and marginal wall img/s (trees alternate)."""
    plugin, checkpoint, images = write_fixtures(work, sizes)
    (work / "driver.py").write_text(DRIVER)
    marginals: dict[str, list[dict]] = {name: [] for name in trees}
    names = list(trees)
    for round_index in range(rounds):
        order = names[round_index % len(names):] + names[:round_index % len(names)]
        for name in order:
            small, large = (run_once(trees[name], work, plugin, checkpoint, images[n], label=f"{name}_{n}_{round_index}")
                            for n in sizes)
            images_added = sizes[1] - sizes[0]
            row = {part: 1000 * (large[part] - small[part]) / images_added for part in PARTS}
            row["img/s"] = images_added / (large["wall"] - small["wall"])
            marginals[name].append(row)
            print(f"  round {round_index + 1} {name:<10} " + "  ".join(f"{p} {row[p]:6.2f} ms" for p in PARTS)
                  + f"  wall {row['img/s']:6.1f} img/s", flush=True)
    return marginals


def medians(rows: list[dict]) -> dict[str, float]:
    """The median of each column over rounds."""
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def ceilings(row: dict[str, float], cores: int) -> dict[str, float]:
    """img/s the host allows: all work on one core (serial), and on `cores` cores with the main thread serial."""
    total = sum(row[part] for part in PARTS)
    return {"serial": 1000 / total, f"parallel on {cores} cores": min(1000 / row["main"], cores * 1000 / total)}


def print_table(results: dict[str, dict[str, float]], cores: list[int]) -> None:
    """One column per tree; ratios of the last tree to the first when there are two or more."""
    names = list(results)
    print("\nper image, marginal, median over rounds" + "".join(f"{name:>16}" for name in names)
          + (f"{names[-1] + ' / ' + names[0]:>20}" if len(names) > 1 else ""))
    labels = {"main": "main thread CPU ms", "writers": "writer threads CPU ms", "loaders": "loader workers CPU ms",
              "img/s": "wall throughput img/s"}
    rows = dict(labels)
    for n in cores:
        for key in ceilings(results[names[0]], n):
            rows[key] = f"ceiling {key} img/s"
    table = {name: {**results[name], **{k: v for n in cores for k, v in ceilings(results[name], n).items()}}
             for name in names}
    for key, label in rows.items():
        values = [table[name][key] for name in names]
        ratio = f"{values[-1] / values[0]:19.2f}x" if len(names) > 1 and values[0] else ""
        print(f"  {label:<37}" + "".join(f"{value:16.2f}" for value in values) + ratio)


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=PATH",
                        help="a camviz checkout to measure (repeatable; default: this one). The last is compared "
                             "with the first.")
    parser.add_argument("--sizes", default="32,352", help="the two image counts of the marginal (default 32,352)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating trees; medians are reported")
    parser.add_argument("--cores", default="", help="extra core counts for the parallel ceiling, e.g. 8,16")
    parser.add_argument("--keep", type=Path, help="work dir to use and keep (images are reused)")
    parser.add_argument("--json", type=Path, help="write the per-round rows and the medians here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    trees = dict(entry.split("=", 1) if "=" in entry else (Path(entry).name, entry) for entry in args.tree)
    trees = {name: Path(path) for name, path in trees.items()} or {"this tree": REPO}
    sizes = tuple(int(n) for n in args.sizes.split(","))
    cores = [usable_cpus(), *(int(n) for n in args.cores.split(",") if n)]
    with tempfile.TemporaryDirectory(prefix="camviz-host-cost-") as temporary:
        work = args.keep or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        print(f"host cost: {', '.join(f'{k}={v}' for k, v in trees.items())}; {sizes[0]} vs {sizes[1]} images, "
              f"{args.rounds} rounds, {usable_cpus()} usable CPUs", flush=True)
        marginals = measure(trees, sizes, args.rounds, work)
    results = {name: medians(rows) for name, rows in marginals.items()}
    print_table(results, cores)
    if args.json:
        args.json.write_text(json.dumps({"trees": {k: str(v) for k, v in trees.items()}, "sizes": sizes,
                                         "rounds": marginals, "medians": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
