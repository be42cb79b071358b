"""The `camviz` command line: Typer commands that parse options, call the API and report.

No logic lives here that the Python API lacks. Every command runs through `main()`, which turns
camviz's own errors into one line on stderr and the exit code the error carries.
"""

from __future__ import annotations

import os
import sys

import typer

from camviz.errors import CamvizError

app = typer.Typer(
    name="camviz",
    help="Grad-CAM figures for image classifiers, straight from a checkpoint.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main() -> None:
    """Console entry point: run the app, print camviz errors as one line (CAMVIZ_DEBUG=1 shows tracebacks)."""
    try:
        app(standalone_mode=True)
    except CamvizError as error:
        if os.environ.get("CAMVIZ_DEBUG"):
            raise
        typer.echo(f"camviz: error: {error}", err=True)
        sys.exit(error.exit_code)
