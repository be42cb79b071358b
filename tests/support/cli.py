"""Running `camviz` in tests: the installed console script in a real process, or its entry point in this one.

Both return a `subprocess.CompletedProcess` (text stdout and stderr) and never raise on a non-zero exit, so a
test reads the same result either way. In this process there is no interpreter start-up (seconds per call);
a real process is for what only a real process shows (signals, kills, torchrun, the installed script itself).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

CAMVIZ = Path(sys.executable).parent / "camviz"


def script_env() -> dict[str, str]:
    """This environment without `CAMVIZ_DEBUG`, so that errors are one line as users see them."""
    return {key: value for key, value in os.environ.items() if key != "CAMVIZ_DEBUG"}


def run_script(*args: object, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The installed `camviz` console script in a real process."""
    return subprocess.run([str(CAMVIZ), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env=script_env(), check=False)


def run_in_process(*args: object) -> subprocess.CompletedProcess:
    """`camviz.cli.main.main` with `args` as its argv, in this process; asserts it never ends in "internal error".

    Reads `CAMVIZ_DEBUG` as it is now (the `camviz_main` fixture clears it; a test may set it).
    """
    from camviz.cli.main import main

    argv = ["camviz", *map(str, args)]
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        patch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as stop:
            main()
    err = stderr.getvalue()
    assert "internal error" not in err and "Traceback" not in err, err
    return subprocess.CompletedProcess(argv, stop.value.code, stdout.getvalue(), err)


def invoke_ok(*args: object) -> Result:
    """The Typer app itself (no entry point around it) through Typer's runner; asserts the command succeeded."""
    from camviz.cli.commands import app

    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def one_error_line(result: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """The one stderr line of a failed run, checked for its exit code, its `camviz: error:` start and its words."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == code and len(lines) == 1 and lines[0].startswith("camviz: error:"), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]
