"""Fixtures of the output tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.odd_names import write_odd_names


@pytest.fixture(scope="session")
def odd_run(camviz_main, trained_checkpoint: Path, circle_image: Path,
            tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """One batch run over a data dir full of hostile names: (data dir, output dir, stderr)."""
    root = tmp_path_factory.mktemp("odd")
    data, out = write_odd_names(root / "data", circle_image), root / "out"
    result = camviz_main("explain", "--model-path", trained_checkpoint, "--data-dir", data, "--output-dir", out,
                         "--num-workers", "0", "--batch-size", "4")
    assert result.returncode == 0, result.stderr
    return data, out, result.stderr
