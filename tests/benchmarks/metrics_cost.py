"""What each `--metrics` score costs (issue 28): img/s of `camviz explain` with each metric alone and all together
against a plain run, and ROAD per image before (pytorch-grad-cam's `ROADCombined`) and after (`camviz.cam.road`).

Times whole `camviz explain` processes (wall clock, start-up included) on a random-init timm resnet18 at 224 px
(`pretrained=False`) over synthetic 256x256 JPEGs, variants interleaved round-robin (median of `--rounds`), so the
ratios come from one run on one machine; each run's own `run.json` seconds per image per metric are printed too.
With fewer images than the baseline subset (32), every image also gets its deletion/insertion baselines scored,
which a large split pays only on 32 images. Then, in this process, ROAD on the same model's Grad-CAMs of `--road-n`
images: the library's `ROADCombined(percentiles=[20, 40, 60, 80])` against camviz's, whole and imputation only, and
camviz's nine forward passes alone (what bounds the speed-up if the imputation cost nothing).

Run (not collected by pytest; minutes on a small CPU box):

    .venv/bin/python tests/benchmarks/metrics_cost.py --n 16 --rounds 1 --json metrics.json
    .venv/bin/python tests/benchmarks/metrics_cost.py --gpu --n 256   # on a CUDA machine: no --cpu
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.trust_cost import CLASSES, time_variant, write_checkpoint, write_data

VARIANTS: dict[str, tuple[str, ...]] = {
    "plain": (), "road": ("--metrics", "road"), "confidence": ("--metrics", "confidence"),
    "deletion": ("--metrics", "deletion"), "insertion": ("--metrics", "insertion"), "all": ("--metrics",),
}
PERCENTILES = [20, 40, 60, 80]


def cli_throughput(work: Path, args: argparse.Namespace) -> tuple[dict[str, float], dict[str, dict]]:
    """img/s of each variant (median wall time over the rounds, interleaved), and each run's seconds per metric."""
    data, _, _ = write_data(work, args.n)
    checkpoint = write_checkpoint(work / "resnet18.pth")
    camviz = str(Path(sys.executable).parent / "camviz")
    device = [] if args.gpu else ["--cpu"]
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    recorded: dict[str, dict] = {}
    for round_number in range(args.rounds):
        for name, extra in VARIANTS.items():
            out = work / f"out_{name}_{round_number}"
            command = [camviz, "explain", "--model-path", str(checkpoint), "--data-dir", str(data), "--output-dir",
                       str(out), *device, "--batch-size", str(args.batch_size), *extra]
            times[name].append(time_variant(command))
            record = json.loads((out / "run.json").read_text(encoding="utf-8"))
            recorded[name] = (record.get("faithfulness") or {}).get("seconds_per_image", {})
            print(f"{name}: {times[name][-1]:.1f} s, run.json seconds/image {recorded[name]}", flush=True)
    return {name: args.n / statistics.median(values) for name, values in times.items()}, recorded


def road_before_after(images: int, gpu: bool, rounds: int = 1) -> dict[str, float]:
    """Seconds per image of ROAD by pytorch-grad-cam and by camviz on the same Grad-CAMs, and their largest
    difference; also the imputation alone (the library's `RemoveMostRelevantFirst` / `RemoveLeastRelevantFirst`
    with `NoisyLinearImputer`, against `camviz.cam.road.perturbed`). Each the fastest of `rounds` interleaved
    rounds (a shared machine's load only ever adds time)."""
    results = [_road_once(images, gpu) for _ in range(rounds)]
    fastest = {key: min(result[key] for result in results) for key in results[0] if key.endswith("per_image")}
    fastest["speedup"] = fastest["library_s_per_image"] / fastest["camviz_s_per_image"]
    fastest["imputation_speedup"] = fastest["imputation_library_s_per_image"] / fastest["imputation_camviz_s_per_image"]
    fastest["ceiling_with_forwards_alone"] = fastest["library_s_per_image"] / fastest["forwards_camviz_s_per_image"]
    fastest["max_score_difference"] = max(result["max_score_difference"] for result in results)
    fastest["differences_by_image"] = np.max([result["differences_by_image"] for result in results], axis=0).tolist()
    fastest["rounds"] = rounds
    print(json.dumps(fastest, indent=2), flush=True)
    return fastest


def _road_once(images: int, gpu: bool) -> dict[str, float]:
    import timm
    import torch
    from pytorch_grad_cam.metrics.perturbation_confidence import RemoveLeastRelevantFirst, RemoveMostRelevantFirst
    from pytorch_grad_cam.metrics.road import NoisyLinearImputer, ROADCombined
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    from camviz.cam.engine import CamEngine
    from camviz.cam.metrics import rank_with_random_ties
    from camviz.cam.road import Road, _probabilities, perturbed, road_combined

    device = torch.device("cuda" if gpu else "cpu")
    torch.manual_seed(0)
    model = timm.create_model("resnet18", pretrained=False, num_classes=len(CLASSES)).eval().to(device)
    inputs = torch.randn(images, 3, 224, 224, device=device)
    with CamEngine(model, [model.layer4[-1]]) as engine:
        batch = engine.compute(inputs)
    ranked = rank_with_random_ties(batch.cams)
    categories = batch.probabilities.argmax(axis=1).tolist()
    targets = [ClassifierOutputSoftmaxTarget(c) for c in categories]
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    with torch.no_grad():
        torch.manual_seed(1)
        start = time.perf_counter()
        before = ROADCombined(percentiles=PERCENTILES)(inputs, ranked, targets, model)
        library = time.perf_counter() - start
        torch.manual_seed(1)
        start = time.perf_counter()
        after = road_combined(model, inputs, ranked, categories, Road(percentiles=PERCENTILES, batch_size=images))
        ours = time.perf_counter() - start
        start = time.perf_counter()
        for perturbation in (RemoveLeastRelevantFirst, RemoveMostRelevantFirst):
            for percentile in PERCENTILES:
                for image, cam in zip(inputs.cpu(), ranked, strict=True):
                    perturbation(percentile, NoisyLinearImputer())(image, torch.from_numpy(cam))
        library_imputation = time.perf_counter() - start
        start = time.perf_counter()
        scored = perturbed(inputs, ranked, Road(percentiles=PERCENTILES))
        our_imputation = time.perf_counter() - start
        classes = torch.tensor(categories, device=device)
        start = time.perf_counter()
        _probabilities(model, inputs, classes, images)
        _probabilities(model, scored, classes.repeat(2 * len(PERCENTILES)), images)
        forwards = time.perf_counter() - start
    result = {"library_s_per_image": library / images, "camviz_s_per_image": ours / images,
              "speedup": library / ours, "imputation_library_s_per_image": library_imputation / images,
              "imputation_camviz_s_per_image": our_imputation / images,
              "imputation_speedup": library_imputation / our_imputation,
              "forwards_camviz_s_per_image": forwards / images,
              "max_score_difference": float(abs(before - after).max()),
              "differences_by_image": np.abs(before - after).tolist()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="images per explain run")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--road-n", type=int, default=8, help="images for ROAD before/after")
    parser.add_argument("--road-rounds", type=int, default=3, help="ROAD before/after: the fastest of these rounds")
    parser.add_argument("--road-only", action="store_true", help="only ROAD before/after, no explain runs")
    parser.add_argument("--gpu", action="store_true", help="run on CUDA (default: --cpu)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    road = road_before_after(args.road_n, args.gpu, args.road_rounds)
    if args.road_only:
        return
    with tempfile.TemporaryDirectory() as folder:
        throughput, recorded = cli_throughput(Path(folder), args)
    plain = throughput["plain"]
    report = {"images": args.n, "rounds": args.rounds, "img_per_s": throughput,
              "ratio_to_plain": {name: value / plain for name, value in throughput.items()},
              "run_json_seconds_per_image": recorded, "road_before_after": road}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
