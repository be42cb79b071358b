"""`camviz explain` on a pickle it will not load without --trust-checkpoint: one line naming every unsafe global."""

from __future__ import annotations

import datetime
import decimal
import fractions
import os
import re
import subprocess

import torch

from camviz.discovery.checkpoint import DANGEROUS_MODULES
from tests.support.checkpoints import save_demo_checkpoint
from tests.support.cli import one_error_line


def test_a_refused_pickle_names_every_unsafe_global_dangerous_first(camviz_main, circle_image, tmp_path) -> None:
    extras = [os.system, subprocess.Popen, fractions.Fraction(1, 3), datetime.date(2020, 1, 1), decimal.Decimal("1.5"),
              re.compile("x")]
    path = save_demo_checkpoint(tmp_path / "pickled.pth", extras=extras)
    result = camviz_main("explain", "--image-path", circle_image, "--output-dir", tmp_path / "out",
                         "--model-path", path)
    line = one_error_line(result, 1, "--trust-checkpoint")
    named = re.search(r"objects \((.*)\) and unpickling", line).group(1).split(", ")
    expected = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    assert len(named) == len(set(expected)) > 4 and set(named) == set(expected)
    dangerous = sorted(name for name in expected if name.split(".")[0] in DANGEROUS_MODULES)
    assert len(dangerous) == 2 and f"{os.system.__module__}.system" in dangerous  # Popen pickles as commands.Popen
    assert named[:2] == dangerous and named[2:] == sorted(named[2:])
