"""The console entry point: runs the Typer app, turns camviz's errors into one line and an exit code."""

from __future__ import annotations

import os
import sys

import typer

from camviz.cli.commands import CommandLine, app
from camviz.errors import CamvizError


def main() -> None:
    """Console entry point: errors become one line on stderr and an exit code (CAMVIZ_DEBUG=1: tracebacks).

    SIGINT and SIGTERM end a run cleanly (see `camviz.run.signals`): one line, exit 130 or 143.
    """
    from camviz.run.signals import Interrupted, interruptible

    with interruptible():
        try:
            code = _run_app(debug_enabled())
        except Interrupted as stop:
            typer.echo(f"camviz: stopped by {stop}: finished figures and manifest rows are kept "
                       "(run the same command with --resume to finish a batch)", err=True)
            code = stop.exit_code
    sys.exit(code)


def debug_enabled() -> bool:
    """`CAMVIZ_DEBUG` set to anything but empty, 0, false, no or off."""
    return os.environ.get("CAMVIZ_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")


def _run_app(debug: bool) -> int:
    """Run the Typer app; camviz's errors and bugs become one line on stderr and the exit code."""
    from camviz.run.signals import Interrupted, received

    try:  # camviz is the program: its commands may record the command line they were given (`command_line`)
        code = app(args=sys.argv[1:], standalone_mode=False, obj=CommandLine(arguments=tuple(sys.argv[1:])))
    except typer.TyperException as error:  # Typer's (vendored click's) usage errors: bad flags, values, files
        if error.format_message():  # empty when the help was just shown (no arguments)
            typer.echo(f"camviz: usage error: {error.format_message()} (see --help)", err=True)
        code = error.exit_code
    except typer.Abort:
        typer.echo("camviz: aborted", err=True)
        code = 130
    except CamvizError as error:
        if (signal_number := received()) is not None:  # an error while stopping (a worker killed by the signal)
            raise Interrupted(signal_number) from error
        if debug:
            raise
        typer.echo(f"camviz: error: {error}", err=True)
        code = error.exit_code
    except Exception as error:  # a bug: one line for users, the traceback with CAMVIZ_DEBUG=1
        if (signal_number := received()) is not None:
            raise Interrupted(signal_number) from error
        if debug:
            raise
        typer.echo(f"camviz: internal error: {type(error).__name__}: {error} (CAMVIZ_DEBUG=1 shows the traceback)",
                   err=True)
        code = 1
    return code if isinstance(code, int) else 0
