"""Do two camviz trees write the same outputs? Batch and single runs on a softmax, a binary and a multi-label model.

    .venv/bin/python tests/benchmarks/same_outputs.py --before /path/to/old/checkout --after .

Each tree runs as `python -m camviz` with the tree first on PYTHONPATH, on the same checkpoints and images (so the
manifests' `source` keys can match). Manifests and galleries must be byte-identical, figures pixel-identical
(decoded), raw CAMs equal. Not part of the test run: a tool for restructurings (issue 16).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from camviz.demo import CHECKPOINT_PATH, write_image_folder

RUNS = {  # name -> (checkpoint, extra flags)
    "softmax": ("softmax.pth", ["--save-raw", "--metrics"]),
    "softmax_mistakes": ("softmax.pth", ["--only-misclassified", "--figure-format", "jpg"]),
    "binary": ("binary.pth", ["--save-raw"]),
    "multilabel": ("multilabel.pth", ["--save-raw", "--threshold", "0.3"]),
}


def write_checkpoints(folder: Path) -> None:
    """The shipped demo model as it is (softmax), as a one-logit head (binary) and as a multi-label model."""
    demo = torch.load(CHECKPOINT_PATH, map_location="cpu", weights_only=True)
    weights = dict(demo["state_dict"])
    torch.save(demo, folder / "softmax.pth")
    binary = dict(weights)
    binary["head.weight"] = (weights["head.weight"][1] - weights["head.weight"][0])[None]
    binary["head.bias"] = (weights["head.bias"][1] - weights["head.bias"][0])[None]
    torch.save({"model_name": "camviz_shapenet", "state_dict": binary, "class_names": ["square"]}, folder / "binary.pth")
    torch.save({**demo, "multi_label": True}, folder / "multilabel.pth")


def run_tree(tree: Path, work: Path, data: Path, out: Path) -> None:
    """Every run of `RUNS`, batch mode into `out/{name}`, single mode into `out/{name}_single`."""
    env = {**os.environ, "PYTHONPATH": str(tree.resolve()), "CAMVIZ_DEBUG": "1"}
    image = sorted(data.rglob("*_000.png"))[0]
    for name, (checkpoint, flags) in RUNS.items():
        common = [sys.executable, "-m", "camviz", "explain", "--model-path", str(work / checkpoint), "--cpu",
                  "--num-workers", "0", *flags]
        batch = [*common, "--data-dir", str(data), "--output-dir", str(out / name)]
        single = [*common, "--image-path", str(image), "--output-dir", str(out / f"{name}_single")]
        single = [flag for flag in single if flag != "--metrics"]  # --metrics needs --data-dir
        for command in (batch, single):
            result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=work, check=False)
            if result.returncode not in (0, 3):
                sys.exit(f"{tree}: {' '.join(command[3:])} failed:\n{result.stderr}")


def differences(before: Path, after: Path) -> list[str]:
    """What differs between two output trees: missing files, bytes (csv, html), pixels (figures), values (npy)."""
    found = []
    names = {p.relative_to(before) for p in before.rglob("*") if p.is_file()}
    names |= {p.relative_to(after) for p in after.rglob("*") if p.is_file()}
    for name in sorted(names):
        one, two = before / name, after / name
        if not (one.is_file() and two.is_file()):
            found.append(f"only in one tree: {name}")
        elif name.suffix in (".png", ".jpg", ".webp"):
            a, b = cv2.imread(str(one), cv2.IMREAD_UNCHANGED), cv2.imread(str(two), cv2.IMREAD_UNCHANGED)
            if a.shape != b.shape or not np.array_equal(a, b):
                found.append(f"pixels differ: {name}")
        elif name.suffix == ".npy":
            if not np.array_equal(np.load(one), np.load(two)):
                found.append(f"values differ: {name}")
        elif name.name == "run.json":  # a record of each run (times, command): never the same twice
            continue
        elif name.name == "index.html":
            if _without_run_panel(one) != _without_run_panel(two):
                found.append(f"bytes differ: {name}")
        elif not filecmp.cmp(one, two, shallow=False):
            found.append(f"bytes differ: {name}")
    return found


def _without_run_panel(page: Path) -> str:
    """The gallery page without its "run" panel data (run.json's times and command differ between runs)."""
    return re.sub(r'"run":(null|\[\[.*?\]\])', '"run":-', page.read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="A camviz checkout (its root folder).")
    parser.add_argument("--after", type=Path, required=True, help="Another camviz checkout.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        write_checkpoints(work)
        data = work / "data"
        write_image_folder(data, per_class=4, seed=2024)
        (data / "circle" / "broken.png").write_bytes(b"not a png")  # a skipped sample and its manifest row
        for label, tree in (("before", args.before), ("after", args.after)):
            run_tree(tree, work, data, work / label)
        found = differences(work / "before", work / "after")
        files = sum(1 for p in (work / "after").rglob("*") if p.is_file())
        for line in found:
            print(line)
        print(f"{files} files compared over {len(RUNS)} batch and {len(RUNS)} single runs: "
              f"{'identical' if not found else f'{len(found)} differ'}")
        sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
