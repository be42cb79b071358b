"""How long `camviz sanity` takes: 16 images on resnet50 (random weights, 224 px), beside `camviz explain` on the
same images, in one process, alternated, median of `--rounds`.

Each side is the Python API (`camviz.run.sanity.sanity`, `camviz.run.job.explain`) from the checkpoint file, so
both include loading the model; `explain` writes its figures, `sanity` its grid, table and summary. The ratio says
what a sanity run costs in explain runs: it computes a map of every image once per block plus three times (the
original, the repeat and the random logit), on a fresh build of the architecture.

Run (not collected by pytest; minutes on a small CPU box), under the shared CPU lock:

    flock /tmp/camviz-cpu.lock .venv/bin/python tests/benchmarks/sanity_time.py --rounds 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import timm
import torch
from PIL import Image

from camviz.data.options import InputOptions
from camviz.discovery.options import ModelOptions
from camviz.output.options import OutputOptions
from camviz.run.job import explain
from camviz.run.options import ExplainOptions
from camviz.run.sanity import SanityOptions, sanity


def write_case(root: Path, model_name: str, images: int, size: int) -> tuple[Path, Path]:
    """A random-weights checkpoint of `model_name` and an ImageFolder of `images` noisy pictures (two classes)."""
    torch.manual_seed(0)
    checkpoint = root / f"{model_name}.pth"
    torch.save({"model_name": model_name, "state_dict": timm.create_model(model_name, pretrained=False).state_dict()},
               checkpoint)
    rng = np.random.default_rng(0)
    for i in range(images):
        folder = root / "data" / f"class_{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:03d}.jpg")
    return checkpoint, root / "data"


def case_arguments(description: str, model: str, images: int) -> argparse.Namespace:
    """The benchmark's model, image count and size, rounds and device, from the command line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", default=model)
    parser.add_argument("--images", type=int, default=images)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cpu", action="store_true", help="the CPU even when CUDA is there")
    return parser.parse_args()


def main() -> None:
    args = case_arguments(__doc__.splitlines()[0], "resnet50", 16)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        checkpoint, data = write_case(root, args.model, args.images, args.size)
        model = ModelOptions(path=checkpoint, cpu=args.cpu)
        times: dict[str, list[float]] = {"sanity": [], "explain": []}
        steps, maps = 0, 0
        for round_ in range(args.rounds):
            start = time.perf_counter()
            result = sanity(SanityOptions(model=model, inputs=InputOptions(data_dir=data, num_samples=args.images),
                                          output=OutputOptions(output_dir=root / f"sanity{round_}")))
            times["sanity"].append(time.perf_counter() - start)
            steps = len(result.blocks.names)
            maps = steps + 2 + (len(result.judged) - 1) * result.blocks.above_target
            times["explain"].append(time_explain(model, data, root / f"explain{round_}"))
    print_medians(times, "sanity", f"{args.model}, {args.images} images at {args.size} px, {_device(args)}, torch "
                  f"threads {torch.get_num_threads()}, {steps} blocks ({maps} maps per image with the verdict's extra "
                  f"draws), median of {args.rounds} rounds")


def time_explain(model: ModelOptions, data: Path, output_dir: Path) -> float:
    """Seconds of one in-process `explain` of the folder (the reference the sanity tests are timed against)."""
    start = time.perf_counter()
    explain(ExplainOptions(model=model, inputs=InputOptions(data_dir=data), num_workers=0,
                           output=OutputOptions(output_dir=output_dir)))
    return time.perf_counter() - start


def print_medians(times: dict[str, list[float]], timed: str, heading: str) -> None:
    """Each variant's median and rounds, then `timed`'s median over explain's."""
    median = {name: statistics.median(values) for name, values in times.items()}
    print(heading)
    for name, values in times.items():
        print(f"  {name:<8} {median[name]:7.1f} s   (rounds: {', '.join(f'{v:.1f}' for v in values)})")
    print(f"  {timed} / explain: {median[timed] / median['explain']:.2f}x")


def _device(args: argparse.Namespace) -> str:
    return "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"


if __name__ == "__main__":
    main()
