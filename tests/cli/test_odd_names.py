"""`camviz explain` over hostile file and class names (non-UTF-8 bytes, carriage returns, formula prefixes, very
long and non-ASCII names): each gets its own row and its own files, and the manifest reads back as written."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from camviz.output.manifest import read_manifest
from tests.support.manifest import manifest_rows
from tests.support.odd_names import FORMULAS, LONG_FITS, LONG_NEVER_FITS, NON_UTF8, write_odd_names


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


def test_a_non_utf8_file_name_is_explained_under_a_reversible_spelling(odd_run) -> None:
    _, out, _ = odd_run
    rows = {row.path: row for row in read_manifest(out / "manifest.csv")}
    row = rows["circle/caf\\xe9.png"]
    assert row.status == "ok" and (out / row.output).is_file()
    assert row.path.encode().decode("unicode_escape").encode("latin-1") == os.fsencode(f"circle/{NON_UTF8}")
    assert (out / "index.html").is_file() and len(list(out.glob("class_mean_*.png"))) == 7


def test_long_class_names_never_abort_the_batch(odd_run) -> None:
    _, out, _ = odd_run
    rows = [row for row in read_manifest(out / "manifest.csv") if row.true in (LONG_FITS, LONG_NEVER_FITS)]
    assert len(rows) == 2 and all(row.status == "ok" and (out / row.output).is_file() for row in rows)
    assert all(len(os.fsencode(path.name)) <= 255 for path in out.iterdir())
    assert not list(out.glob(".*.part"))


def test_non_ascii_class_names_keep_their_own_files(odd_run) -> None:
    _, out, _ = odd_run
    for name in ("猫", "狗", "狐"):
        assert (out / f"class_mean_{name}.png").is_file()
    figures = [row.output for row in read_manifest(out / "manifest.csv")]
    assert len(set(figures)) == len(figures)


def test_single_images_with_non_ascii_names_do_not_overwrite_each_other(camviz_main, trained_checkpoint, circle_image,
                                                                        tmp_path) -> None:
    for name in ("猫.png", "狗.png"):
        shutil.copy(circle_image, tmp_path / name)
        result = camviz_main("explain", "--model-path", trained_checkpoint, "--image-path", tmp_path / name,
                             "--output-dir", tmp_path / "out")
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*_gradcam.png")) == ["狗_gradcam.png", "猫_gradcam.png"]


def test_a_carriage_return_in_a_name_stays_inside_its_field(odd_run) -> None:
    data, out, _ = odd_run
    records = manifest_rows(out)
    assert len(records) == sum(1 for path in data.rglob("*.png"))
    assert "circle/a\rb.png" in {record["path"] for record in records}


def test_formula_prefixes_are_defused_in_the_csv_and_restored_on_reading(odd_run) -> None:
    _, out, _ = odd_run
    for record in manifest_rows(out):
        for field in ("path", "true", "pred", "target", "output", "error"):
            assert not record[field].startswith(("=", "+", "-", "@")), record
    paths = {row.path for row in read_manifest(out / "manifest.csv")}
    assert {f"circle/{name}" for name in FORMULAS} <= paths and "=cmd/one.png" in paths
    assert "=cmd" in {row.true for row in read_manifest(out / "manifest.csv")}
