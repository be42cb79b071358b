"""Do two camviz trees write the same outputs? Explain (batch and single), ground truth, sanity, run records.

    .venv/bin/python tests/benchmarks/same_outputs.py --before /path/to/old/checkout --after .

Each tree runs as `python -m camviz` with the tree first on PYTHONPATH, on the same checkpoints, images and
ground truth (so the manifests' `source` columns can match): `explain` batch and single runs on a softmax, a binary
and a multi-label model, softmax batch runs with `--boxes` and with `--masks`, and a small `camviz sanity` run.
Figures must be pixel-identical (decoded), raw CAMs equal, other files byte-identical, except for what is per run:
`run.json` and the gallery's "run" panel are compared without their times and command line. The settings key
(12 hex digits at the start of each manifest `source`, also in run.json and the gallery) is masked unless
`--no-ignore-settings-key`; each run must still carry one key throughout. Not part of the test run: a tool for
restructurings (issue 16).
"""

from __future__ import annotations

import argparse
import csv
import json
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

RUNS = {  # name -> (checkpoint, extra flags): a batch run into `{name}`, a single-image run into `{name}_single`
    "softmax": ("softmax.pth", ["--save-raw", "--metrics"]),
    "softmax_mistakes": ("softmax.pth", ["--only-misclassified", "--figure-format", "jpg"]),
    "binary": ("binary.pth", ["--save-raw"]),
    "multilabel": ("multilabel.pth", ["--save-raw", "--threshold", "0.3"]),
}
GROUND_TRUTH_RUNS = {"boxes": ("--boxes", "boxes.csv"), "masks": ("--masks", "masks")}  # softmax batch runs
SANITY_FLAGS = ["--num-samples", "6", "--draws", "2", "--cpu"]  # `camviz sanity` on the softmax model, into `sanity`
PER_RUN = {"started", "ended", "command", "argv", "duration", "duration_s", "elapsed", "elapsed_s"}  # never equal
KEY_MASK = "<settings-key>"
IMAGES = (".png", ".jpg", ".webp")
TEXTS = (".csv", ".txt", ".json", ".html")
GALLERY_DATA = re.compile(r'(<script type="application/json" id="camviz-data">)(.*?)(</script>)', re.S)


def write_checkpoints(folder: Path) -> None:
    """The shipped demo model as it is (softmax), as a one-logit head (binary) and as a multi-label model."""
    demo = torch.load(CHECKPOINT_PATH, map_location="cpu", weights_only=True)
    weights = dict(demo["state_dict"])
    torch.save(demo, folder / "softmax.pth")
    binary = dict(weights)
    binary["head.weight"] = (weights["head.weight"][1] - weights["head.weight"][0])[None]
    binary["head.bias"] = (weights["head.bias"][1] - weights["head.bias"][0])[None]
    plugins = {"plugins": demo["plugins"]} if "plugins" in demo else {}  # the demo network's module, as recorded
    torch.save({"model_name": "camviz_shapenet", "state_dict": binary, "class_names": ["square"], **plugins},
               folder / "binary.pth")
    torch.save({**demo, "multi_label": True}, folder / "multilabel.pth")


def write_ground_truth(work: Path, data: Path, boxes_json: Path) -> None:
    """`work/boxes.csv` (`--boxes`: a header, then `path,x_min,y_min,x_max,y_max` per image) from the demo's boxes
    JSON, and `work/masks/` (`--masks`: each image's box drawn as a mask at the same relative path)."""
    boxes: dict[str, list[int]] = json.loads(boxes_json.read_text(encoding="utf-8"))
    rows = ["path,x_min,y_min,x_max,y_max", *(f"{path},{','.join(map(str, box))}" for path, box in boxes.items())]
    (work / "boxes.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for path, (x0, y0, x1, y1) in boxes.items():
        mask = np.zeros(cv2.imread(str(data / path)).shape[:2], np.uint8)
        mask[y0:y1, x0:x1] = 255  # x1, y1 exclusive, as in the CSV
        (work / "masks" / path).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(work / "masks" / path), mask)


def commands(work: Path, data: Path, out: Path) -> dict[str, list[str]]:
    """Each run's camviz arguments, by the name of its output folder under `out`."""
    image = sorted(data.rglob("*_000.png"))[0]
    runs: dict[str, list[str]] = {}
    for name, (checkpoint, flags) in RUNS.items():
        common = ["explain", "--model-path", str(work / checkpoint), "--cpu", "--num-workers", "0", *flags]
        runs[name] = [*common, "--data-dir", str(data), "--output-dir", str(out / name)]
        single = [*common, "--image-path", str(image), "--output-dir", str(out / f"{name}_single")]
        runs[f"{name}_single"] = [flag for flag in single if flag != "--metrics"]  # --metrics needs --data-dir
    softmax = ["--model-path", str(work / "softmax.pth"), "--data-dir", str(data)]
    for name, (flag, path) in GROUND_TRUTH_RUNS.items():
        runs[name] = ["explain", *softmax, "--cpu", "--num-workers", "0", flag, str(work / path),
                      "--output-dir", str(out / name)]
    runs["sanity"] = ["sanity", *softmax, *SANITY_FLAGS, "--output-dir", str(out / "sanity")]
    return runs


def run_tree(tree: Path, work: Path, data: Path, out: Path) -> None:
    """Every run of `commands` with `tree`'s camviz; exit 0 (done) or 3 (some images skipped) only."""
    env = {**os.environ, "PYTHONPATH": str(tree.resolve()), "CAMVIZ_DEBUG": "1"}
    for arguments in commands(work, data, out).values():
        command = [sys.executable, "-m", "camviz", *arguments]
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=work, check=False)
        if result.returncode not in (0, 3):
            sys.exit(f"{tree}: {' '.join(arguments)} failed (exit {result.returncode}):\n{result.stderr}")


def settings_keys(out: Path) -> tuple[set[str], list[str]]:
    """The settings keys in `out`'s run folders (manifest `source` columns, run.json), and each folder whose rows
    and record do not all carry one key."""
    keys: set[str] = set()
    problems = []
    for folder in sorted(path for path in out.iterdir() if path.is_dir()):
        found = set()
        if (folder / "manifest.csv").is_file():
            with (folder / "manifest.csv").open(newline="", encoding="utf-8") as file:
                found |= {row["source"].split(":")[0] for row in csv.DictReader(file) if row.get("source")}
        if (folder / "run.json").is_file():
            found.add(json.loads((folder / "run.json").read_text(encoding="utf-8")).get("settings_key"))
        if len(found) > 1 or any(not re.fullmatch(r"[0-9a-f]{12}", str(key)) for key in found):
            problems.append(f"settings keys in {out.name}/{folder.name}: {sorted(map(str, found))} (one expected)")
        keys |= {key for key in found if isinstance(key, str)}
    return keys, problems


NEW_FIELDS: set[str] = set()  # run.json fields the after tree adds on purpose (--new-field): not compared


def comparable_text(path: Path, keys: set[str]) -> str:
    """A text output as compared: `keys` masked; run.json and the gallery's run panel without per-run fields."""
    text = path.read_text(encoding="utf-8")
    if keys:  # a key on its own, not hex digits inside a longer number (an mtime)
        text = re.sub(rf"(?<![0-9a-f])({'|'.join(sorted(keys))})(?![0-9a-f])", KEY_MASK, text)
    if path.name == "run.json":
        record = {name: value for name, value in json.loads(text).items() if name not in PER_RUN | NEW_FIELDS}
        return json.dumps(record, indent=2)  # key order kept: a reordering is a difference
    if path.name == "index.html":
        return GALLERY_DATA.sub(lambda match: match[1] + _gallery_data(match[2]) + match[3], text)
    return text


def _gallery_data(text: str) -> str:
    """The gallery's embedded JSON with the "run" panel's per-run rows (times, command line) left out."""
    data = json.loads(text)
    if data.get("run"):
        data["run"] = [row for row in data["run"] if row[0] not in PER_RUN | NEW_FIELDS]
    return json.dumps(data)


def same_file(one: Path, two: Path, keys: tuple[set[str], set[str]]) -> bool:
    """Figures by decoded pixels, raw CAMs by values, text after `comparable_text`, anything else by bytes."""
    if one.suffix in IMAGES:
        a, b = cv2.imread(str(one), cv2.IMREAD_UNCHANGED), cv2.imread(str(two), cv2.IMREAD_UNCHANGED)
        return a is not None and b is not None and a.shape == b.shape and np.array_equal(a, b)
    if one.suffix == ".npy":
        a, b = np.load(one), np.load(two)
        return a.shape == b.shape and np.array_equal(a, b)
    if one.suffix in TEXTS:
        return comparable_text(one, keys[0]) == comparable_text(two, keys[1])
    return one.read_bytes() == two.read_bytes()


def differences(before: Path, after: Path, keys: tuple[set[str], set[str]]) -> tuple[int, list[str]]:
    """How many files the two output trees hold between them, and what differs (a file only in one tree counts);
    `keys`: each tree's settings keys to mask (empty: compared as written)."""
    found = []
    names = {p.relative_to(before) for p in before.rglob("*") if p.is_file()}
    names |= {p.relative_to(after) for p in after.rglob("*") if p.is_file()}
    for name in sorted(names):
        one, two = before / name, after / name
        if not (one.is_file() and two.is_file()):
            found.append(f"only in one tree: {name}")
        elif not same_file(one, two, keys):
            found.append(f"differ: {name}")
    return len(names), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="A camviz checkout (its root folder).")
    parser.add_argument("--after", type=Path, required=True, help="Another camviz checkout.")
    parser.add_argument("--ignore-settings-key", action=argparse.BooleanOptionalAction, default=True,
                        help="Mask the 12-hex settings key before comparing (default); --no-ignore-settings-key: "
                             "the keys must match too.")
    parser.add_argument("--new-field", action="append", default=[],
                        help="A run.json field the after tree adds on purpose (repeatable): left out of the comparison.")
    args = parser.parse_args()
    NEW_FIELDS.update(args.new_field)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        write_checkpoints(work)
        data = work / "data"
        write_image_folder(data, per_class=4, seed=2024, boxes_path=work / "boxes.json")
        write_ground_truth(work, data, work / "boxes.json")
        (data / "circle" / "broken.png").write_bytes(b"not a png")  # a skipped sample and its manifest row
        for label, tree in (("before", args.before), ("after", args.after)):
            run_tree(tree, work, data, work / label)
        runs = len(commands(work, data, work))
        (before, problems), (after, problems_after) = settings_keys(work / "before"), settings_keys(work / "after")
        masked = (before, after) if args.ignore_settings_key else (set(), set())
        files, found = differences(work / "before", work / "after", masked)
    found = [f"before: {line}" for line in problems] + [f"after: {line}" for line in problems_after] + found
    for line in found:
        print(line)
    key = (f"settings keys masked ({len(before)} before, {len(after)} after)" if args.ignore_settings_key
           else "settings keys compared, not masked")
    if NEW_FIELDS:
        key += f"; new run.json fields not compared: {', '.join(sorted(NEW_FIELDS))}"
    print(f"{files} files compared over {runs} runs per tree, {key}: "
          f"{'identical' if not found else f'{len(found)} differ'}")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
