"""Fixtures of the CAM tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from camviz.discovery.models import LoadedModel, load_model


@pytest.fixture(scope="module")
def loaded(trained_checkpoint: Path) -> LoadedModel:
    """The shipped demo classifier, loaded once per test module."""
    return load_model(trained_checkpoint)
