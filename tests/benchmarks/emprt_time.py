"""How long `camviz sanity --test emprt` takes over a whole split, beside `camviz explain` of the same split: the
issue-28 goal is "about the time of one explain". resnet18 (random weights, 224 px) by default, in one process,
alternated, median of `--rounds`.

Each side is the Python API from the checkpoint file (loading the model included): `explain` writes a figure per
image and its manifest and gallery; eMPRT computes two maps per image (the trained model's and a fully random
copy's), streams the images batch by batch, and writes its table, a figure of the first 8 images and the summary.

Run (not collected by pytest), under the shared CPU lock:

    flock /tmp/camviz-cpu.lock .venv/bin/python tests/benchmarks/emprt_time.py --images 64 --rounds 2
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch

from camviz.cam.randomisation import SanityTest
from camviz.data.options import InputOptions
from camviz.discovery.options import ModelOptions
from camviz.output.options import OutputOptions
from camviz.run.sanity import SanityOptions, sanity
from tests.benchmarks.sanity_time import case_arguments, print_medians, time_explain, write_case


def main() -> None:
    args = case_arguments(__doc__.splitlines()[0], "resnet18", 64)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        checkpoint, data = write_case(root, args.model, args.images, args.size)
        model = ModelOptions(path=checkpoint, cpu=args.cpu)
        times: dict[str, list[float]] = {"emprt": [], "explain": []}
        for round_ in range(args.rounds):
            start = time.perf_counter()
            result = sanity(SanityOptions(model=model, inputs=InputOptions(data_dir=data), tests=(SanityTest.emprt,),
                                          output=OutputOptions(output_dir=root / f"emprt{round_}")))
            times["emprt"].append(time.perf_counter() - start)
            assert result.emprt is not None and result.emprt.scores.size == args.images  # the whole split
            times["explain"].append(time_explain(model, data, root / f"explain{round_}"))
    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
    print_medians(times, "emprt", f"{args.model}, {args.images} images at {args.size} px, {device}, torch threads "
                  f"{torch.get_num_threads()}, median of {args.rounds} rounds")


if __name__ == "__main__":
    main()
