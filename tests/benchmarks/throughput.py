"""Throughput and memory benchmark of issue #4: "a CAM for little more than the price of a forward pass".

Times whole processes (wall clock, startup included), interleaved round-robin, median of `--rounds`:

- `camviz`: `camviz explain --data-dir D --batch-size 8 --cpu` (default --num-workers);
- `forward`: decode + forward only, no CAM: a torch DataLoader with camviz's decoding and preprocessing
  (PIL, RGB, bilinear resize to the square input, normalise) and camviz's worker count, the model under
  `torch.inference_mode()` in batches of 8, nothing written;
- `readme`: pytorch-grad-cam's README loop: `with GradCAM(model, target_layers) as cam:` per batch of 8
  (targets=None, so a full backward with weight gradients), `show_cam_on_image` and `cv2.imwrite` per image;
- `matplotlib`: the original one-image-at-a-time script: PIL open, torchvision transforms, one GradCAM call
  per image, a new 3-panel matplotlib figure (image, heatmap with colour bar, overlay), `savefig`, `close`.

Memory per run: `maxrss`, the peak RSS of the largest single process of the run (from `os.wait4`, so
DataLoader workers count too), and `tree PSS`, the peak of the summed PSS of the process and all its
descendants, sampled from /proc (shared pages counted once). Models are random-init timm models saved
as dict checkpoints; images are synthetic JPEGs in an ImageFolder tree.

Run (not collected by pytest; takes minutes on a small CPU box):

    .venv/bin/python tests/benchmarks/throughput.py --n 60 --rounds 3 --json bench.json

With CUDA present it runs the GPU mode instead (`gpu_mode.py`: marginal img/s of camviz against a plain
pytorch-grad-cam loop, forward-only and in-process ceilings); `--no-gpu` forces this CPU benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

MODELS = ("resnet50", "convnextv2_tiny")
VARIANTS = ("camviz", "forward", "readme", "matplotlib")
CLASSES = ("alpha", "beta", "gamma", "delta", "epsilon")
IMG_SIZE = 224
BATCH = 8
FLATNESS_SIZES = (60, 480)
REPO = Path(__file__).resolve().parents[2]

# (name, numerator, denominator, at least, models it applies to); RSS targets are "at most"
THROUGHPUT_TARGETS = (
    ("camviz / forward-only throughput", "camviz", "forward", 0.75, ("resnet50",)),
    ("camviz / README-loop throughput", "camviz", "readme", 1.5, ("resnet50",)),
    ("camviz / matplotlib-loop throughput", "camviz", "matplotlib", 2.5, ("resnet50",)),
    ("camviz / README-loop throughput", "camviz", "readme", 2.5, ("convnextv2_tiny",)),
)
RSS_TARGET = 1.3
FLATNESS_TARGET = 1.15

# ---------------------------------------------------------------------------------------------------------
# The baseline scripts, written to the work dir. argv: checkpoint, data dir, output dir, workers.

_COMMON = '''
import sys, time
from pathlib import Path
import numpy as np, torch, timm

def load(path):
    ck = torch.load(path, map_location="cpu", weights_only=True)
    model = timm.create_model(ck["model_name"], pretrained=False, num_classes=ck["num_classes"])
    model.load_state_dict(ck["state_dict"])
    mean, std = model.pretrained_cfg["mean"], model.pretrained_cfg["std"]
    return model.eval(), ck, mean, std

def target_layers(model, name):
    return [model.layer4[-1]] if name.startswith("resnet") else [model.stages[-1].blocks[-1]]

def image_paths(root):
    return sorted(p for p in Path(root).glob("*/*") if p.suffix.lower() in (".jpg", ".png"))

ckpt, data_dir, out_dir, workers = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
out_dir.mkdir(parents=True, exist_ok=True)
model, ck, mean, std = load(ckpt)
size = ck["img_size"]
paths = image_paths(data_dir)
'''

FORWARD_SCRIPT = _COMMON + '''
from PIL import Image
from torch.utils.data import DataLoader, Dataset

class Images(Dataset):
    def __len__(self):
        return len(paths)
    def __getitem__(self, i):
        with Image.open(paths[i]) as image:
            image = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
        array = (np.asarray(image, dtype=np.float32) / 255.0 - np.float32(mean)) / np.float32(std)
        return torch.from_numpy(array.transpose(2, 0, 1).copy())

loader = DataLoader(Images(), batch_size=8, num_workers=workers, prefetch_factor=4 if workers else None)
with torch.inference_mode():
    for batch in loader:
        model(batch).softmax(-1)
'''

README_SCRIPT = _COMMON + '''
import cv2
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import preprocess_image, show_cam_on_image

layers = target_layers(model, ck["model_name"])
for start in range(0, len(paths), 8):
    chunk = paths[start:start + 8]
    rgbs = [np.float32(cv2.resize(cv2.imread(str(p), 1), (size, size))[:, :, ::-1]) / 255 for p in chunk]
    input_tensor = torch.cat([preprocess_image(rgb, mean=mean, std=std) for rgb in rgbs])
    with GradCAM(model=model, target_layers=layers) as cam:
        grayscale_cams = cam(input_tensor=input_tensor, targets=None)
    for path, rgb, grayscale_cam in zip(chunk, rgbs, grayscale_cams):
        cam_image = show_cam_on_image(rgb, grayscale_cam, use_rgb=True)
        cv2.imwrite(str(out_dir / f"{path.stem}_gradcam.jpg"), cv2.cvtColor(cam_image, cv2.COLOR_RGB2BGR))
'''

MATPLOTLIB_SCRIPT = _COMMON + '''
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from PIL import Image
from torchvision import transforms
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image

transform = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(), transforms.Normalize(mean, std)])
layers = target_layers(model, ck["model_name"])

def visualize(path):
    image = Image.open(path).convert("RGB")
    input_tensor = transform(image).unsqueeze(0)
    with GradCAM(model=model, target_layers=layers) as cam:
        grayscale_cam = cam(input_tensor=input_tensor, targets=None)[0]
        probabilities = torch.softmax(cam.outputs.detach(), dim=-1)[0]
    pred = int(probabilities.argmax())
    rgb = np.asarray(image.resize((size, size)), dtype=np.float32) / 255
    visualization = show_cam_on_image(rgb, grayscale_cam, use_rgb=True)
    fig, axes = plt.subplots(1, 3, figsize=(15, 5))
    axes[0].imshow(rgb); axes[0].set_title(f"Original: {path.parent.name}"); axes[0].axis("off")
    heat = axes[1].imshow(grayscale_cam, cmap="jet"); axes[1].set_title("Grad-CAM heatmap"); axes[1].axis("off")
    plt.colorbar(heat, ax=axes[1], fraction=0.046, pad=0.04)
    axes[2].imshow(visualization); axes[2].axis("off")
    axes[2].set_title(f"Overlay: pred {ck['class_names'][pred]} ({probabilities[pred]:.2%})")
    plt.tight_layout()
    plt.savefig(out_dir / f"{path.stem}_gradcam.png", dpi=150, bbox_inches="tight")
    plt.close(fig)

for path in paths:
    visualize(path)
'''

SCRIPTS = {"forward": FORWARD_SCRIPT, "readme": README_SCRIPT, "matplotlib": MATPLOTLIB_SCRIPT}


# ---------------------------------------------------------------------------------------------------------
# Fixtures: checkpoints and images.


def make_checkpoint(model_name: str, path: Path, classes: tuple[str, ...] = CLASSES) -> Path:
    """A random-init timm model saved as a dict checkpoint camviz reads without flags."""
    import timm
    import torch

    if not path.is_file():
        torch.manual_seed(0)
        model = timm.create_model(model_name, pretrained=False, num_classes=len(classes))
        torch.save({"model_name": model_name, "state_dict": model.state_dict(), "num_classes": len(classes),
                    "class_names": list(classes), "img_size": IMG_SIZE}, path)
    return path


def synthetic_image(rng: np.random.Generator, sides: tuple[int, int] = (224, 320)) -> Image.Image:
    """A smooth random RGB picture (upscaled colour field plus a few shapes), `sides` px per side (inclusive)."""
    from PIL import Image, ImageDraw

    width, height = (int(v) for v in rng.integers(sides[0], sides[1] + 1, size=2))
    field = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    image = Image.fromarray(field).resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 6))):
        x0, y0 = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        box = (x0, y0, x0 + int(rng.integers(20, 120)), y0 + int(rng.integers(20, 120)))
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    noise = rng.normal(0, 6, size=(height, width, 3))
    return Image.fromarray(np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8))


def write_images(root: Path, count: int, seed: int = 0, classes: tuple[str, ...] = CLASSES,
                 sides: tuple[int, int] = (224, 320)) -> Path:
    """`count` JPEGs spread round-robin over the classes in `root/<class>/`; kept if already there."""
    marker = root / ".complete"
    if marker.is_file():
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        folder = root / classes[index % len(classes)]
        folder.mkdir(parents=True, exist_ok=True)
        synthetic_image(rng, sides).save(folder / f"img_{index:05d}.jpg", quality=90)
    marker.touch()
    return root


# ---------------------------------------------------------------------------------------------------------
# Running one process and measuring it.


@dataclass
class Run:
    """One measured process."""

    variant: str
    model: str
    images: int
    wall_s: float
    maxrss_mib: float
    tree_pss_mib: float
    returncode: int
    round: int = 1

    @property
    def images_per_s(self) -> float:
        return self.images / self.wall_s


def _children_map() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    return children


def tree_pss_kib(root: int) -> int:
    """Summed PSS (KiB) of `root` and all its descendants now; 0 for processes that are gone."""
    children, todo, total = _children_map(), [root], 0
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except (OSError, ValueError):
            pass
    return total


class PssSampler(threading.Thread):
    """Polls a process tree's PSS every `interval` seconds and keeps the peak."""

    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kib = pid, interval, 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            self.peak_kib = max(self.peak_kib, tree_pss_kib(self.pid))


def run_process(argv: list[str], log: Path, interval: float) -> tuple[float, float, float, int]:
    """Run `argv` to completion: wall seconds, peak maxrss MiB, peak tree PSS MiB, exit code."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("CAMVIZ_DEBUG", None)
    with log.open("w") as output:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
        sampler = PssSampler(process.pid, interval)
        if interval > 0:
            sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        sampler.stop.set()
    process.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, sampler.peak_kib / 1024, process.returncode


# ---------------------------------------------------------------------------------------------------------
# The benchmark.


@dataclass
class Setup:
    """Where everything lives for one benchmark run."""

    work: Path
    checkpoints: dict[str, Path] = field(default_factory=dict)
    scripts: dict[str, Path] = field(default_factory=dict)
    interval: float = 0.5

    def data_dir(self, count: int) -> Path:
        return write_images(self.work / f"data_{count}", count, seed=count)


def camviz_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m camviz`."""
    script = Path(sys.executable).parent / "camviz"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "camviz"]


def command(setup: Setup, variant: str, model: str, count: int, out: Path) -> list[str]:
    """The argv of one variant; baselines use camviz's DataLoader worker count for `count` images."""
    from camviz.run.cpus import share_cpus

    checkpoint, data = setup.checkpoints[model], setup.data_dir(count)
    if variant == "camviz":
        return [*camviz_command(), "explain", "--model-path", str(checkpoint), "--data-dir", str(data),
                "--output-dir", str(out), "--batch-size", str(BATCH), "--cpu"]
    workers = min(share_cpus().loader_workers, max(1, count // BATCH))  # what camviz's default uses here
    return [sys.executable, str(setup.scripts[variant]), str(checkpoint), str(data), str(out), str(workers)]


def measure(setup: Setup, variant: str, model: str, count: int, tag: str) -> Run:
    """Run one variant once on a fresh output dir; a failing process stops the benchmark."""
    out = setup.work / "out" / f"{tag}_{variant}_{model}_{count}"
    shutil.rmtree(out, ignore_errors=True)
    log = setup.work / "logs" / f"{tag}_{variant}_{model}_{count}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    wall, maxrss, pss, code = run_process(command(setup, variant, model, count, out), log, setup.interval)
    if code != 0:
        raise SystemExit(f"{variant} on {model} exited {code}; see {log}:\n{log.read_text()[-2000:]}")
    pattern = "gradcam_[0-9]*.png" if variant == "camviz" else "*_gradcam.*"  # camviz also writes a gallery
    written = sum(1 for _ in out.glob(pattern))
    if variant != "forward" and written != count:
        raise SystemExit(f"{variant} on {model} wrote {written} figures, expected {count}; see {log}")
    shutil.rmtree(out, ignore_errors=True)
    run = Run(variant, model, count, wall, maxrss, pss, code, int(tag.lstrip("roundflat") or 1))
    print(f"  {tag:<9} {model:<16} {variant:<11} {count:>4} img  {wall:7.2f} s  {run.images_per_s:6.2f} img/s"
          f"  maxrss {maxrss:7.0f} MiB  tree PSS {pss:7.0f} MiB", flush=True)
    return run


def interleaved(setup: Setup, jobs: list[tuple[str, str, int]], rounds: int, tag: str) -> list[Run]:
    """Run every (variant, model, count) job once per round, rotating the order each round."""
    runs = []
    for round_index in range(rounds):
        shift = round_index % len(jobs)
        for variant, model, count in jobs[shift:] + jobs[:shift]:
            runs.append(measure(setup, variant, model, count, f"{tag}{round_index + 1}"))
    return runs


def median_of(runs: list[Run], variant: str, model: str, count: int | None = None) -> dict[str, float]:
    """Medians of one variant's runs: wall, images/s, maxrss, tree PSS."""
    chosen = [r for r in runs if r.variant == variant and r.model == model and count in (None, r.images)]
    return {
        "wall_s": statistics.median(r.wall_s for r in chosen),
        "images_per_s": statistics.median(r.images_per_s for r in chosen),
        "maxrss_mib": statistics.median(r.maxrss_mib for r in chosen),
        "tree_pss_mib": statistics.median(r.tree_pss_mib for r in chosen),
        "runs": len(chosen),
    }


def summarise(runs: list[Run], models: list[str], flat_runs: list[Run]) -> dict:
    """Per model: median per variant and the camviz ratios; the flatness ratio; every target's verdict."""
    result: dict = {"models": {}, "targets": []}
    for model in models:
        medians = {v: median_of(runs, v, model) for v in VARIANTS}
        ratios = {f"camviz/{v}": medians["camviz"]["images_per_s"] / medians[v]["images_per_s"]
                  for v in VARIANTS[1:]}
        ratios["rss camviz/forward"] = medians["camviz"]["maxrss_mib"] / medians["forward"]["maxrss_mib"]
        ratios["pss camviz/forward"] = medians["camviz"]["tree_pss_mib"] / medians["forward"]["tree_pss_mib"]
        result["models"][model] = {"medians": medians, "ratios": ratios, "paired": paired_ratios(runs, model)}
        for name, top, bottom, least, applies in THROUGHPUT_TARGETS:
            if model in applies:
                value = ratios[f"{top}/{bottom}"]
                result["targets"].append(_verdict(f"{model}: {name}", value, f">= {least}", value >= least))
        value = ratios["rss camviz/forward"]
        result["targets"].append(_verdict(f"{model}: peak RSS camviz / forward-only", value,
                                          f"<= {RSS_TARGET}", value <= RSS_TARGET))
    if flat_runs:
        small, large = (median_of(flat_runs, "camviz", "resnet50", n) for n in FLATNESS_SIZES)
        result["flatness"] = {"small": small, "large": large}
        for key in ("maxrss_mib", "tree_pss_mib"):
            value = large[key] / small[key]
            result["flatness"][f"{key} ratio"] = value
            result["targets"].append(_verdict(f"resnet50: camviz {key} at {FLATNESS_SIZES[1]} / "
                                              f"{FLATNESS_SIZES[0]} images", value, f"<= {FLATNESS_TARGET}",
                                              value <= FLATNESS_TARGET))
    return result


def paired_ratios(runs: list[Run], model: str) -> dict[str, dict[str, float]]:
    """camviz's throughput over each baseline's within the same round: median, min and max over rounds."""
    paired = {}
    for variant in VARIANTS[1:]:
        values = []
        for number in sorted({r.round for r in runs}):
            ours = [r for r in runs if (r.variant, r.model, r.round) == ("camviz", model, number)]
            theirs = [r for r in runs if (r.variant, r.model, r.round) == (variant, model, number)]
            if ours and theirs:
                values.append(ours[0].images_per_s / theirs[0].images_per_s)
        if values:
            paired[f"camviz/{variant}"] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return paired


def _verdict(name: str, value: float, target: str, passed: bool) -> dict:
    return {"name": name, "value": round(value, 3), "target": target, "pass": passed}


def print_marginal(runs: list[Run], models: list[str], variants: list[str], sizes: tuple[int, int]) -> None:
    """Marginal img/s, (large - small) / (t_large - t_small) within each round, median; camviz's ratio to each."""
    print(f"\nmarginal img/s from {sizes[0]} vs {sizes[1]} images (start-up cancels), median over rounds")
    for model in models:
        rates = {}
        for variant in variants:
            values = []
            for number in sorted({r.round for r in runs}):
                walls = {r.images: r.wall_s for r in runs if (r.variant, r.model, r.round) == (variant, model, number)}
                if len(walls) == 2 and walls[sizes[1]] > walls[sizes[0]]:
                    values.append((sizes[1] - sizes[0]) / (walls[sizes[1]] - walls[sizes[0]]))
            rates[variant] = statistics.median(values) if values else float("nan")
        for variant, rate in rates.items():
            ratio = rates.get("camviz", float("nan")) / rate if variant != "camviz" else float("nan")
            print(f"  {model:<16} {variant:<11} {rate:7.2f} img/s" + (f"   camviz is {ratio:.2f}x" if variant != "camviz" else ""))


def print_table(summary: dict) -> None:
    """The medians, the ratios and the targets, as plain text."""
    for model, data in summary["models"].items():
        medians, ratios = data["medians"], data["ratios"]
        print(f"\n{model} (median of {medians['camviz']['runs']} rounds)")
        print(f"  {'variant':<11} {'wall s':>8} {'img/s':>7} {'camviz x':>9} {'maxrss MiB':>11} {'tree PSS MiB':>13}"
              "   camviz x per round: median (min..max)")
        for variant in VARIANTS:
            m = medians[variant]
            ratio, spread = "", ""
            if variant != "camviz":
                ratio = f"{ratios[f'camviz/{variant}']:.2f}x"
                p = data["paired"].get(f"camviz/{variant}")
                spread = f"{p['median']:.2f}x ({p['min']:.2f}..{p['max']:.2f})" if p else ""
            print(f"  {variant:<11} {m['wall_s']:8.2f} {m['images_per_s']:7.2f} {ratio:>9} "
                  f"{m['maxrss_mib']:11.0f} {m['tree_pss_mib']:13.0f}   {spread}")
        print(f"  RSS camviz/forward: maxrss {ratios['rss camviz/forward']:.2f}x, "
              f"tree PSS {ratios['pss camviz/forward']:.2f}x")
    if "flatness" in summary:
        flat = summary["flatness"]
        print(f"\nflatness (camviz, resnet50): maxrss {flat['small']['maxrss_mib']:.0f} -> "
              f"{flat['large']['maxrss_mib']:.0f} MiB ({flat['maxrss_mib ratio']:.3f}x), tree PSS "
              f"{flat['small']['tree_pss_mib']:.0f} -> {flat['large']['tree_pss_mib']:.0f} MiB "
              f"({flat['tree_pss_mib ratio']:.3f}x)")
    print("\ntargets")
    for t in summary["targets"]:
        print(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['name']}: {t['value']:.3f} (target {t['target']})")


def environment() -> dict:
    """What the numbers were measured on: machine, versions, the camviz tree's commit and dirtiness."""
    import platform

    import torch

    git = ["git", "-C", str(REPO)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run([*git, "status", "--porcelain", "camviz"], capture_output=True, text=True, check=False).stdout
    return {"cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
            "python": platform.python_version(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "commit": commit, "camviz_tree_dirty": bool(dirty.strip())}


def prepare(work: Path, models: list[str], interval: float) -> Setup:
    """Checkpoints, baseline scripts (images are written on first use)."""
    setup = Setup(work, interval=interval)
    for model in models:
        setup.checkpoints[model] = make_checkpoint(model, work / f"{model}.pth")
    for name, source in SCRIPTS.items():
        setup.scripts[name] = work / f"{name}_baseline.py"
        setup.scripts[name].write_text(source)
    return setup


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=60, help="images per run (default 60)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated timm model names")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="subset of: " + ",".join(VARIANTS))
    parser.add_argument("--marginal", type=int, help="also run every variant at this many images: marginal img/s")
    parser.add_argument("--flatness", action=argparse.BooleanOptionalAction, default=True,
                        help=f"camviz RSS at {FLATNESS_SIZES[0]} vs {FLATNESS_SIZES[1]} images (resnet50)")
    parser.add_argument("--flatness-rounds", type=int, default=1)
    parser.add_argument("--sample-interval", type=float, default=0.5, help="PSS sampling period s (0: off)")
    parser.add_argument("--keep", type=Path, help="work dir to use and keep (checkpoints/images are reused)")
    parser.add_argument("--json", type=Path, help="write the runs, medians, ratios and verdicts here")
    parser.add_argument("--gpu", action=argparse.BooleanOptionalAction, default=None,
                        help="GPU mode (gpu_mode.py); default: on when CUDA is present")
    parser.add_argument("--device", default="cuda", help="GPU mode's device (cpu: check the script on a CPU)")
    parser.add_argument("--gpu-sizes", default="256,1536", help="GPU mode: the two split sizes (marginal img/s)")
    return parser.parse_args(argv)


def main_gpu(args: argparse.Namespace) -> int:
    """GPU mode: the issue #10 table on one CUDA device; exit 0 when every target passes."""
    from gpu_mode import run_gpu_mode

    small, large = (int(n) for n in args.gpu_sizes.split(","))
    models = [m for m in args.models.split(",") if m] if args.models != ",".join(MODELS) else ["resnet50",
                                                                                                "vit_base_patch16_224"]
    results = run_gpu_mode(models, (small, large), args.rounds, args.device, args.keep)
    if args.json:
        args.json.write_text(json.dumps({"environment": environment(), **results}, indent=2))
    return 0 if all(t["pass"] for t in results["targets"]) else 1


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 when every target passes, 1 otherwise."""
    args = parse_args(argv)
    if args.gpu or (args.gpu is None and _cuda_present()):
        return main_gpu(args)
    models = [m for m in args.models.split(",") if m]
    variants = [v for v in args.variants.split(",") if v]
    with tempfile.TemporaryDirectory(prefix="camviz-bench-") as temporary:
        work = args.keep or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        setup = prepare(work, models, args.sample_interval)
        print(f"work dir {work}; {args.n} images, {args.rounds} rounds, models {', '.join(models)}", flush=True)
        sizes = (args.n,) if args.marginal is None else (args.n, args.marginal)
        runs = interleaved(setup, [(v, m, n) for m in models for v in variants for n in sizes], args.rounds, "round")
        if args.marginal is not None:
            print_marginal(runs, models, variants, sizes)
        flat_runs = []
        if args.flatness:
            setup.checkpoints.setdefault("resnet50", make_checkpoint("resnet50", work / "resnet50.pth"))
            jobs = [("camviz", "resnet50", n) for n in FLATNESS_SIZES]
            flat_runs = interleaved(setup, jobs, args.flatness_rounds, "flat")
    complete = set(variants) == set(VARIANTS)
    runs = [r for r in runs if r.images == args.n]
    summary = summarise(runs if complete else [], models if complete else [], flat_runs)
    print_table(summary)
    if args.json:
        payload = {"environment": environment(), "n": args.n, "rounds": args.rounds, **summary,
                   "runs": [asdict(r) for r in runs], "flatness_runs": [asdict(r) for r in flat_runs]}
        args.json.write_text(json.dumps(payload, indent=2))
    return 0 if all(t["pass"] for t in summary["targets"]) else 1


def _cuda_present() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    sys.exit(main())
