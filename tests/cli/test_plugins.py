"""`camviz explain --plugin`: a plugin that exits or opens a missing file is one line, not a crash."""

from __future__ import annotations

import pytest

from tests.support.cli import one_error_line


@pytest.mark.parametrize(("body", "words"), [
    ("import sys\nsys.exit(0)\n", "called sys.exit(0) while importing"),
    ("open('/nonexistent/camviz/weights.txt')\n", "failed while importing: FileNotFoundError"),
])
def test_a_plugin_that_exits_or_opens_a_missing_file(*, camviz_main, circle_image, trained_checkpoint, tmp_path, body,
                                                     words) -> None:
    plugin = tmp_path / f"plugin_{abs(hash(body))}.py"
    plugin.write_text(body)
    result = camviz_main("explain", "--image-path", circle_image, "--output-dir", tmp_path, "--model-path",
                         trained_checkpoint, "--plugin", plugin)
    assert "plugin file not found" not in one_error_line(result, 1, words)
