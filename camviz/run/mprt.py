"""The repaired randomisation tests of one `camviz sanity` run, wired (`camviz.cam.mprt`): eMPRT streamed batch by
batch over the images (so a whole split costs two CAM passes per image and keeps only the figure's maps), and sMPRT
on the images held in memory. Both randomise one fresh copy (`camviz.cam.randomise`); the user's model is explained
as it is."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from camviz.cam.engine import CamEngine
from camviz.cam.mprt import EmprtScores, SmoothSettings, SmprtResult, emprt_batch, smooth_mprt
from camviz.cam.randomisation import RandomisationSetup, original_maps
from camviz.cam.randomise import Cascade, bottom_up, fresh_copy
from camviz.output.mprt import FIGURE_ROWS
from camviz.output.sanity import SanityImage
from camviz.run.model import ResolvedModel

Chunk = tuple[list[str], np.ndarray]  # a batch of images: their names and uint8 pixels [B, H, W, C]


@dataclass(frozen=True, kw_only=True)
class EmprtRun:
    """eMPRT over every image: the names, explained classes and scores of all, the first images' maps."""

    names: list[str]
    explained: list[str]
    scores: EmprtScores
    shown: list[SanityImage]  # the first `FIGURE_ROWS` images with their trained model's maps
    shown_randomised: np.ndarray  # their maps with every block random, float32 [<= FIGURE_ROWS, H, W]


def run_emprt(setup: RandomisationSetup, resolved: ResolvedModel, chunks: Iterable[Chunk],
              on_maps: Callable[[int], None]) -> EmprtRun:
    """eMPRT on each chunk in turn: the trained model's maps and those of one copy with every block random."""
    fresh = fresh_copy(setup.model, setup.rebuild, setup.seed)
    randomised = Cascade(setup.model, fresh.model, setup.blocks.names).model  # every block fresh, the rest trained
    names: list[str] = []
    explained: list[str] = []
    parts: list[EmprtScores] = []
    shown: list[SanityImage] = []
    shown_maps: list[np.ndarray] = []
    with setup.engine_for(setup.model) as trained, setup.engine_for(randomised) as random_engine:
        for chunk_names, pixels in chunks:
            inputs = resolved.preprocessing.normalize(torch.from_numpy(pixels).to(resolved.device))
            for start in range(0, len(inputs), setup.batch_size):
                batch = emprt_batch(trained, random_engine, inputs[start : start + setup.batch_size],
                                    setup.output_kind, setup.target_category)
                on_maps(2 * len(batch.explained))
                classes = [setup.class_names[c] for c in batch.explained]
                batch_names = chunk_names[start : start + setup.batch_size]
                for i, name in enumerate(batch_names):
                    if len(shown) < FIGURE_ROWS:
                        shown.append(SanityImage(name=name, pixels=pixels[start + i], explained=classes[i],
                                                 original=batch.original[i]))
                        shown_maps.append(batch.randomised[i])
                names += batch_names
                explained += classes
                parts.append(batch.scores)
    return EmprtRun(names=names, explained=explained, scores=EmprtScores.joined(parts), shown=shown,
                    shown_randomised=np.stack(shown_maps))


def run_smprt(setup: RandomisationSetup, inputs: torch.Tensor, explained: list[int] | None,
              settings: SmoothSettings) -> tuple[list[int], SmprtResult]:
    """sMPRT on `inputs` (normalised, on the model's device), each image's map of its class in `explained` (None:
    the trained model's prediction, or `setup.target_category`), blocks randomised input side first."""
    if explained is None:
        with setup.engine_for(setup.model) as engine:
            explained = original_maps(engine, inputs, setup.target_category, setup.output_kind,
                                      setup.batch_size).explained
    fresh = fresh_copy(setup.model, setup.rebuild, setup.seed)
    steps = bottom_up(setup.model, fresh.model, list(reversed(setup.blocks.names)))
    engine_for: Callable[[nn.Module], CamEngine] = setup.engine_for
    return explained, smooth_mprt(engine_for, setup.model, steps, inputs.cpu().numpy(), explained,
                                  settings=settings)
