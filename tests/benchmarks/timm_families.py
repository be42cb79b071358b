"""The timm family check (issue 21): one smallest model per timm architecture family, random weights, saved as a
camviz checkpoint, explained at its default input size through the CLI and through the README's API call.

A family is a (timm module, model class) pair (for the classes that host several architectures, ByobNet, MetaFormer
and MlpMixer, also the name prefix: gernet, repvgg, poolformer, resmlp, gmlp...); its model is the one with the fewest
parameters (counted on the meta device). For each model:

- `layers`: `camviz layers --json` in this process; its seconds, target, reshape and warning;
- `cli`: `camviz explain --image-path` on one image (`--save-raw`): exit 0 and a non-constant raw CAM, else its
  stderr, which must be one line without a traceback;
- `api`: `load_model` → `find_target_layers(loaded.model)` → plain `pytorch_grad_cam.GradCAM` on an input of the
  model's size: a finite, non-constant map.

Run in chunks (`--start/--stop`, indices into the sorted family list) under the shared CPU lock; rows go to a JSON-lines
file (`--out`), and `--summary` prints the counts from it:

    flock /tmp/camviz-cpu.lock python tests/benchmarks/timm_families.py --start 0 --stop 20 --out /tmp/fam.jsonl
    python tests/benchmarks/timm_families.py --summary --out /tmp/fam.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import timm
import torch
from PIL import Image

from camviz.cam.randomise import fill_zero_init

MULTI_ARCH_CLASSES = ("ByobNet", "MetaFormer", "MlpMixer")
LOOKUP_SECONDS: list[float] = []  # find_target_layers alone (the model already loaded), per API call
CLASSES = ["cat", "dog", "eel", "fox", "owl"]  # a camviz checkpoint as the README saves one: names give the count


def _prefix(name: str) -> str:
    prefix = re.match(r"[a-z]+", name).group(0)
    return prefix[:-1] if prefix.endswith("v") and len(prefix) > 4 else prefix


def families(cache: Path) -> list[tuple[str, str]]:
    """(family key, smallest model name), sorted by key: built on the meta device to read the class and size
    (minutes: kept in `cache`, reused while timm's version is the same)."""
    if cache.is_file():
        saved = json.loads(cache.read_text())
        if saved["timm"] == timm.__version__:
            return [tuple(pair) for pair in saved["families"]]
    from timm.models._registry import _model_to_module

    smallest: dict[str, tuple[int, str]] = {}
    for name in timm.list_models():
        if name.startswith("test_"):
            continue
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False)
        cls = type(model).__name__
        key = f"{_model_to_module[name]}.{cls}" + (f".{_prefix(name)}" if cls in MULTI_ARCH_CLASSES else "")
        count = sum(p.numel() for p in model.parameters())
        if key not in smallest or count < smallest[key][0]:
            smallest[key] = (count, name)
    found = sorted((key, name) for key, (_, name) in smallest.items())
    cache.write_text(json.dumps({"timm": timm.__version__, "families": found}))
    return found


def _camviz(*args: object) -> tuple[int, str, str]:
    """`camviz` in this process: (exit code, stdout, stderr)."""
    from camviz.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["camviz", *map(str, args)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as stop:
                code = int(stop.code or 0)
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def _image(path: Path, size: tuple[int, int]) -> Path:
    """A picture with one bright object left of centre on a noisy background."""
    rng = np.random.default_rng(0)
    pixels = (rng.random((size[0], size[1], 3)) * 60).astype(np.uint8)
    pixels[size[0] // 4 : size[0] // 2, size[1] // 8 : size[1] // 2] = (230, 200, 40)
    Image.fromarray(pixels).save(path)
    return path


def _api(checkpoint: Path, picture: Path) -> str | None:
    """The README's call, on the picture the CLI explains (resized and normalised as the model expects); None when
    the map for some class is usable, else why not."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from camviz import find_target_layers, load_model

    loaded = load_model(checkpoint)
    spec = loaded.input
    start = time.perf_counter()
    layers = find_target_layers(loaded.model)
    LOOKUP_SECONDS.append(round(time.perf_counter() - start, 2))
    image = Image.open(picture).convert("RGB" if spec.channels == 3 else "L").resize(spec.size[::-1])
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).reshape(*spec.size, spec.channels).permute(2, 0, 1)
    x = ((x - torch.tensor(spec.mean[: spec.channels])[:, None, None]) / torch.tensor(spec.std[: spec.channels])[:, None, None])[None]
    with GradCAM(loaded.model, target_layers=layers) as cam:
        for k in range(len(CLASSES)):
            maps = cam(input_tensor=x, targets=[ClassifierOutputTarget(k)])
            if np.isfinite(maps).all() and maps.max() > maps.min():
                return None
    return f"constant or non-finite map {maps.shape}"


def _cli(checkpoint: Path, folder: Path) -> str | None:
    """`camviz explain` on one image; None when its raw CAM is usable, else why not. The predicted class first, then
    each class in turn (random weights: one class's evidence can be negative everywhere, a zero map after the ReLU)."""
    image = folder / "picture.png"
    for category in (None, *range(len(CLASSES))):
        extra = () if category is None else ("--target-category", category)
        code, _, err = _camviz("explain", "--model-path", checkpoint, "--image-path", image, "--output-dir",
                               folder / "out", "--save-raw", "--cpu", *extra)
        if code != 0:
            lines = err.strip().splitlines()
            shape = "one line" if len(lines) == 1 and "Traceback" not in err else f"{len(lines)} lines"
            return f"exit {code} ({shape}): {lines[-1] if lines else ''}"
        raw = np.load(folder / "out" / "picture_gradcam.npy")
        if np.isfinite(raw).all() and raw.max() > raw.min():
            return None
    return f"constant raw CAM {raw.shape}"




def check(key: str, name: str) -> dict:
    """One family's row."""
    row: dict = {"family": key, "model": name}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        torch.manual_seed(0)
        try:
            model = timm.create_model(name, pretrained=False, num_classes=len(CLASSES))
            fill_zero_init(model)
        except Exception as error:
            row["build"] = f"{type(error).__name__}: {error}"
            return row
        checkpoint = folder / f"{name}.pth"
        torch.save({"model_name": name, "state_dict": model.state_dict(), "class_names": CLASSES,
                    "num_classes": len(CLASSES)}, checkpoint)
        del model
        start = time.perf_counter()
        code, out, err = _camviz("layers", "--model-path", checkpoint, "--json")
        row["layers_s"] = round(time.perf_counter() - start, 2)
        if code == 0:
            info = json.loads(out)
            row.update({k: info.get(k) for k in ("img_size", "family", "target_layers", "reshape", "warning")})
        else:
            row["layers_error"] = err.strip()
        size = info["img_size"] if code == 0 else 224
        size = (size, size) if isinstance(size, int) else tuple(size)
        picture = _image(folder / "picture.png", size)
        for what, run in (("cli", lambda: _cli(checkpoint, folder)), ("api", lambda: _api(checkpoint, picture))):
            start = time.perf_counter()
            try:
                row[what] = run()
            except Exception as error:
                row[what] = f"raised {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                row[f"{what}_trace"] = traceback.format_exc(limit=-3)
            row[f"{what}_s"] = round(time.perf_counter() - start, 2)
        row["lookup_s"] = LOOKUP_SECONDS.pop() if LOOKUP_SECONDS else None
    return row


def summary(rows: list[dict]) -> None:
    """The counts and each failure in one line."""
    cli = sum(row.get("cli", "x") is None for row in rows)
    api = sum(row.get("api", "x") is None for row in rows)
    both = sum(row.get("cli", "x") is None and row.get("api", "x") is None for row in rows)
    slow = [row for row in rows if row.get("layers_s", 0) >= 10]
    lookups = [row["lookup_s"] for row in rows if row.get("lookup_s") is not None]
    print(f"families: {len(rows)}; working CAM: cli {cli}, api {api}, both {both}; "
          f"camviz layers >= 10 s: {len(slow)} (max {max((r.get('layers_s', 0) for r in rows), default=0)} s); "
          f"the lookup alone: median {np.median(lookups) if lookups else 0:.2f} s, max {max(lookups, default=0)} s")
    for row in slow:
        print(f"  slow {row['model']}: camviz layers {row['layers_s']} s (the lookup alone {row.get('lookup_s')} s)")
    for row in rows:
        if row.get("cli", "x") is not None or row.get("api", "x") is not None:
            print(f"  FAIL {row['model']} ({row['family']}): cli={row.get('cli', row.get('build'))}; api={row.get('api')}")
    for row in rows:
        if row.get("warning"):
            print(f"  warn {row['model']}: {row['target_layers']} {row['reshape']}: {row['warning'][:160]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--stop", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("timm_families.jsonl"))
    parser.add_argument("--only", nargs="*", help="model names to check instead of the family list")
    parser.add_argument("--summary", action="store_true", help="print the counts from --out and stop")
    args = parser.parse_args()
    if args.summary:
        summary([json.loads(line) for line in args.out.read_text().splitlines() if line.strip()])
        return
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    chosen = [(name, name) for name in args.only] if args.only else families(args.out.with_suffix(".families.json"))
    chosen = chosen[args.start : args.stop]
    with args.out.open("a") as out:
        for key, name in chosen:
            row = check(key, name)
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(f"{name}: layers {row.get('layers_s')} s {row.get('target_layers')} {row.get('reshape')} "
                  f"cli={row.get('cli')} api={row.get('api')}", flush=True)


if __name__ == "__main__":
    main()
