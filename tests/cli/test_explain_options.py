"""camviz.run.options: an `explain` run's options are checked before any work (sizes, threshold, metrics with the
model's output kind), each bad one a usage error of one line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from camviz.cli.commands import app
from camviz.errors import UsageError


@pytest.mark.parametrize(("args", "exception", "message"), [
    (["--img-size", "96x"], None, "--img-size"),
    (["--img-size", "4"], UsageError, "at least 8 pixels"),
    (["--threshold", "1.5"], UsageError, "--threshold must be between 0 and 1"),
    (["--metrics", "--multi-label"], UsageError, "--metrics scores softmax classifiers only"),
], ids=["bad-size", "tiny-size", "threshold", "metrics-multilabel"])
def test_bad_options_are_one_line(*, trained_checkpoint, small_split, tmp_path, args, exception, message) -> None:
    result = CliRunner().invoke(app, ["explain", "--model-path", str(trained_checkpoint), "--data-dir",
                                      str(small_split), "--output-dir", str(tmp_path), "--num-workers", "0", *args])
    if exception is None:  # a click usage error
        assert result.exit_code == 2 and message in result.output
    else:  # camviz's own: `main()` prints it as one line with its exit code
        assert isinstance(result.exception, exception) and result.exception.exit_code == 2
        assert message in str(result.exception) and "\n" not in str(result.exception)
