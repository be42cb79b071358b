"""The `camviz` command line: the Typer app, option parsing beyond Typer's types, console output and progress.

Holds no logic the Python API lacks: each command builds options, calls `camviz.run`, prints the result.
"""

import os

# Before torch loads OpenMP (the commands import it later): OpenMP's idle threads sleep at once instead of
# spinning for milliseconds after each parallel region of the model, which on the CPU device took that CPU from
# the figure writers. Passive waiting costs a heavy network little. An explicit OMP_WAIT_POLICY is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
