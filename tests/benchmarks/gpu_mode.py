"""The GPU mode of `throughput.py` (issue #10): camviz against a plain pytorch-grad-cam loop on one CUDA device.

Whole processes, marginal images/s from two split sizes (so start-up cancels), median over rounds:

- `camviz default`: `camviz explain --model-path C --data-dir D --output-dir O` and nothing else;
- `camviz tuned`: the same with `--batch-size 128 --num-workers W` (W: a third of the CPUs);
- `plain loop`: a default-collate DataLoader (12 workers, batch 64), one `GradCAM` for the run, called per
  batch, `show_cam_on_image` and `cv2.imwrite` per image;
- `forward only`: the same DataLoader and the model's forward pass, nothing written.

In-process ceilings on batches already on the device: camviz's `CamEngine`, pytorch-grad-cam's full backward,
the forward pass alone, and camviz's figure writer alone (compose, encode and write three-panel PNG figures
with one thread per usable CPU but one).

    .venv/bin/python tests/benchmarks/throughput.py --gpu --models resnet50,vit_base_patch16_224 --json gpu.json

`--device cpu` with tiny `--gpu-sizes` runs the same code on a CPU, to check the script itself.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from throughput import camviz_command, make_checkpoint, run_process, write_images

GPU_CLASSES = tuple(f"class{index}" for index in range(8))
SIDES = (384, 384)
PROCESS_VARIANTS = ("camviz default", "camviz tuned", "plain loop", "forward only")
TARGETS = {"resnet50": 500.0, "vit_base_patch16_224": 250.0}  # camviz default, img/s, on an H100/H200

_LOOP_COMMON = '''
import sys
from pathlib import Path
import cv2, numpy as np, torch, timm
from PIL import Image
from torch.utils.data import DataLoader, Dataset

ckpt_path, data_dir, out_dir, device = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
out_dir.mkdir(parents=True, exist_ok=True)
ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
model = timm.create_model(ck["model_name"], pretrained=False, num_classes=ck["num_classes"])
model.load_state_dict(ck["state_dict"])
model = model.to(device).eval()
mean, std, size = model.pretrained_cfg["mean"], model.pretrained_cfg["std"], ck["img_size"]
paths = sorted(p for p in data_dir.glob("*/*.jpg"))

class Images(Dataset):
    def __len__(self):
        return len(paths)
    def __getitem__(self, i):
        with Image.open(paths[i]) as image:
            rgb = np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))
        x = (rgb.astype(np.float32) / 255.0 - np.float32(mean)) / np.float32(std)
        return torch.from_numpy(x.transpose(2, 0, 1).copy()), torch.from_numpy(rgb.copy())

loader = DataLoader(Images(), batch_size=64, num_workers=12, pin_memory=device == "cuda")
'''

PLAIN_LOOP = _LOOP_COMMON + '''
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image

def vit_reshape(tensor, height=14, width=14):
    result = tensor[:, 1:, :].reshape(tensor.size(0), height, width, tensor.size(2))
    return result.transpose(2, 3).transpose(1, 2)

vit = ck["model_name"].startswith("vit")
layers = [model.blocks[-1].norm1] if vit else [model.layer4[-1]]
written = 0
with GradCAM(model=model, target_layers=layers, reshape_transform=vit_reshape if vit else None) as cam:
    for x, rgb in loader:
        grayscale = cam(input_tensor=x.to(device), targets=None)
        for image, heat in zip(rgb.numpy(), grayscale):
            overlay = show_cam_on_image(image.astype(np.float32) / 255.0, heat, use_rgb=True)
            cv2.imwrite(str(out_dir / f"{written:05d}_gradcam.jpg"), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
            written += 1
'''

FORWARD_ONLY = _LOOP_COMMON + '''
with torch.inference_mode():
    for x, _ in loader:
        model(x.to(device, non_blocking=True)).softmax(-1).cpu()
'''


def process_argv(variant: str, work: Path, checkpoint: Path, data: Path, out: Path, *, device: str) -> list[str]:
    """The command line of one whole-process variant."""
    if variant.startswith("camviz"):
        argv = [*camviz_command(), "explain", "--model-path", str(checkpoint), "--data-dir", str(data),
                "--output-dir", str(out)]
        if variant == "camviz tuned":
            argv += ["--batch-size", "128", "--num-workers", str(max(1, (os.cpu_count() or 3) // 3))]
        return argv + (["--cpu"] if device == "cpu" else [])
    script = work / ("plain_loop.py" if variant == "plain loop" else "forward_only.py")
    script.write_text(PLAIN_LOOP if variant == "plain loop" else FORWARD_ONLY)
    return [sys.executable, str(script), str(checkpoint), str(data), str(out), device]


def time_process(variant: str, work: Path, checkpoint: Path, data: Path, count: int, *, device: str) -> float:
    """Wall seconds of one run; checks the figures it wrote."""
    out = work / "out" / f"{variant.replace(' ', '_')}_{count}"
    log = work / "logs" / f"{variant.replace(' ', '_')}_{checkpoint.stem}_{count}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    wall, _, _, code = run_process(process_argv(variant, work, checkpoint, data, out, device=device), log, 0)
    if code != 0:
        raise SystemExit(f"{variant} exited {code}; see {log}:\n{log.read_text()[-2000:]}")
    pattern = "gradcam_[0-9]*.png" if variant.startswith("camviz") else "*_gradcam.jpg"
    written = sum(1 for _ in out.glob(pattern))
    if variant != "forward only" and written != count:
        raise SystemExit(f"{variant} wrote {written} figures, expected {count}; see {log}")
    shutil.rmtree(out, ignore_errors=True)
    return wall


def marginal_rates(work: Path, checkpoint: Path, sizes: tuple[int, int], rounds: int, device: str) -> dict:
    """Per variant: marginal img/s, (large - small) / (t_large - t_small), median over interleaved rounds."""
    small, large = (write_images(work / f"images_{n}", n, seed=n, classes=GPU_CLASSES, sides=SIDES) for n in sizes)
    rates: dict[str, list[float]] = {variant: [] for variant in PROCESS_VARIANTS}
    for round_index in range(rounds):
        order = PROCESS_VARIANTS[round_index % 4:] + PROCESS_VARIANTS[:round_index % 4]
        for variant in order:
            t_small = time_process(variant, work, checkpoint, small, sizes[0], device=device)
            t_large = time_process(variant, work, checkpoint, large, sizes[1], device=device)
            rates[variant].append((sizes[1] - sizes[0]) / (t_large - t_small) if t_large > t_small else float("nan"))
            print(f"  round {round_index + 1} {checkpoint.stem:<22} {variant:<15} {sizes[0]}: {t_small:6.1f} s  "
                  f"{sizes[1]}: {t_large:6.1f} s  marginal {rates[variant][-1]:7.1f} img/s", flush=True)
    return {variant: statistics.median(values) for variant, values in rates.items()}


def in_process_rates(model_name: str, checkpoint: Path, device: str, batch: int, steps: int) -> dict[str, float]:
    """img/s of camviz's CamEngine, pytorch-grad-cam's full backward and the forward pass on device batches."""
    import torch

    from camviz.cam.engine import CamEngine
    from camviz.discovery.layers import resolve_targets
    from camviz.discovery.models import load_model

    loaded = load_model(checkpoint)
    model = loaded.model.to(device).eval()
    targets = resolve_targets(model, model_name, None, loaded.input.size)
    inputs = torch.randn(batch, 3, *loaded.input.size, device=device)

    def rate(step) -> float:
        for _ in range(2):
            step()
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        if device == "cuda":
            torch.cuda.synchronize()
        return batch * steps / (time.perf_counter() - start)

    rates = {}
    for label, full in (("camviz CamEngine alone", False), ("pytorch-grad-cam full backward", True)):
        with CamEngine(model, targets.modules, targets.reshape_transform, full_backward=full) as engine:
            rates[label] = rate(lambda: engine.compute(inputs))
    with torch.inference_mode():
        rates["forward pass alone"] = rate(lambda: model(inputs).softmax(-1).cpu())
    return rates


def writer_rate(work: Path, figures: int) -> float:
    """Three-panel PNG figures/s of camviz's writer alone, one thread per usable CPU but one."""
    from camviz.output.figures import CamFigure, write_figure
    from camviz.output.pool import WritePool
    from camviz.run.cpus import usable_cpus

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(16, 224, 224, 3), dtype=np.uint8)
    cams = rng.random((16, 7, 7), dtype=np.float32)
    cams = np.stack([cv2.resize(cam, (224, 224)) for cam in cams])
    out = work / "writer"
    out.mkdir(parents=True, exist_ok=True)
    titles = ("Input | true: class0", "gradcam heatmap | explained: class1", "Overlay | pred: class1 (50.0%)")
    start = time.perf_counter()
    with WritePool(max(1, usable_cpus() - 1), max_pending=128) as pool:
        for index in range(figures):
            pool.submit(write_figure, out / f"figure_{index:05d}.png",
                        CamFigure(pixels=pixels[index % 16], cam=cams[index % 16], titles=titles))
    return figures / (time.perf_counter() - start)


def run_gpu_mode(models: list[str], sizes: tuple[int, int], rounds: int, device: str, keep: Path | None) -> dict:
    """Every row for every model, printed as the issue's table; returns the numbers and the verdicts."""
    with tempfile.TemporaryDirectory(prefix="camviz-gpu-bench-") as temporary:
        work = keep or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        results: dict = {"device": device_name(device), "cpus": os.cpu_count(), "sizes": sizes, "models": {}}
        results["writer figures/s"] = writer_rate(work, 512 if device == "cuda" else 64)
        for model_name in models:
            checkpoint = make_checkpoint(model_name, work / f"{model_name}.pth", GPU_CLASSES)
            rows = marginal_rates(work, checkpoint, sizes, rounds, device)
            rows.update(in_process_rates(model_name, checkpoint, device, 64 if device == "cuda" else 4,
                                         20 if device == "cuda" else 2))
            results["models"][model_name] = rows
    results["targets"] = verdicts(results)
    print_gpu_table(results)
    return results


def verdicts(results: dict) -> list[dict]:
    """camviz default against the issue's floors and against the plain loop of the same run."""
    found = []
    for model_name, rows in results["models"].items():
        default = rows["camviz default"]
        found.append({"name": f"{model_name}: camviz default / plain loop", "value": round(default / rows["plain loop"], 3),
                      "target": ">= 1.0", "pass": default >= rows["plain loop"]})
        if model_name in TARGETS:
            found.append({"name": f"{model_name}: camviz default img/s", "value": round(default, 1),
                          "target": f">= {TARGETS[model_name]:.0f}", "pass": default >= TARGETS[model_name]})
    return found


def device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(0) if device == "cuda" else "cpu"


def print_gpu_table(results: dict) -> None:
    """The issue's table: one column per model, marginal img/s for processes, img/s for in-process rows."""
    models = list(results["models"])
    print(f"\n{results['device']}, {results['cpus']} CPUs; whole processes: marginal img/s from "
          f"{results['sizes'][0]} vs {results['sizes'][1]} images")
    print(f"  {'':<34}" + "".join(f"{name:>24}" for name in models))
    for row in results["models"][models[0]]:
        print(f"  {row:<34}" + "".join(f"{results['models'][name][row]:24.1f}" for name in models))
    print(f"  {'figure writer alone (PNG)':<34}{results['writer figures/s']:24.1f}")
    print("\ntargets")
    for verdict in results["targets"]:
        print(f"  {'PASS' if verdict['pass'] else 'FAIL'}  {verdict['name']}: {verdict['value']} "
              f"(target {verdict['target']})")
