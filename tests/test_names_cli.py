"""Odd file and class names through the real entry point: each image gets its own row and its own files."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import sys
from pathlib import Path

import pytest

from camviz.cli.main import main
from camviz.demo import CHECKPOINT_PATH
from camviz.output.manifest import read_manifest

NON_UTF8 = os.fsdecode(b"caf\xe9.png")  # Latin-1 bytes: not valid UTF-8
LONG_FITS = "L" * 215  # the figure name fits in 255 bytes, its old temporary name did not
LONG_NEVER_FITS = "M" * 250  # no figure name with this class fits as is
FORMULAS = ["=HYPERLINK(1).png", "+x.png", "@y.png", "-z.png"]


@pytest.fixture(scope="module")
def odd_run(small_split: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """One batch run over a data dir full of hostile names: (data dir, output dir, stderr)."""
    root = tmp_path_factory.mktemp("odd")
    data, out = root / "data", root / "out"
    image = small_split / "circle" / "circle_000.png"
    for name in (NON_UTF8, "a\rb.png", *FORMULAS):
        (data / "circle").mkdir(parents=True, exist_ok=True)
        shutil.copy(image, data / "circle" / name)
    for folder in ("猫", "狗", "狐", LONG_FITS, LONG_NEVER_FITS, "=cmd"):
        (data / folder).mkdir()
        shutil.copy(image, data / folder / "one.png")
    stdout, stderr = io.StringIO(), io.StringIO()
    argv = ["camviz", "explain", "--model-path", str(CHECKPOINT_PATH), "--data-dir", str(data), "--output-dir",
            str(out), "--num-workers", "0", "--batch-size", "4"]
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        patch.setattr(sys, "argv", argv)
        patch.delenv("CAMVIZ_DEBUG", raising=False)
        with pytest.raises(SystemExit) as stop:
            main()
    assert stop.value.code == 0, stderr.getvalue()
    assert "internal error" not in stderr.getvalue()
    return data, out, stderr.getvalue()


def _records(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_a_non_utf8_file_name_is_explained_under_a_reversible_spelling(odd_run) -> None:
    data, out, _ = odd_run
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


def test_a_carriage_return_in_a_name_stays_inside_its_field(odd_run) -> None:
    data, out, _ = odd_run
    records = _records(out)
    assert len(records) == sum(1 for path in data.rglob("*.png"))
    assert "circle/a\rb.png" in {record["path"] for record in records}


def test_non_ascii_class_names_keep_their_own_files(odd_run) -> None:
    _, out, _ = odd_run
    for name in ("猫", "狗", "狐"):
        assert (out / f"class_mean_{name}.png").is_file()
    figures = [row.output for row in read_manifest(out / "manifest.csv")]
    assert len(set(figures)) == len(figures)


def test_formula_prefixes_are_defused_in_the_csv_and_restored_on_reading(odd_run) -> None:
    _, out, _ = odd_run
    for record in _records(out):
        for field in ("path", "true", "pred", "target", "output", "error"):
            assert not record[field].startswith(("=", "+", "-", "@")), record
    paths = {row.path for row in read_manifest(out / "manifest.csv")}
    assert {f"circle/{name}" for name in FORMULAS} <= paths and "=cmd/one.png" in paths
    assert "=cmd" in {row.true for row in read_manifest(out / "manifest.csv")}


def test_single_images_with_non_ascii_names_do_not_overwrite_each_other(camviz_main, small_split, tmp_path) -> None:
    for name in ("猫.png", "狗.png"):
        shutil.copy(small_split / "circle" / "circle_000.png", tmp_path / name)
        result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--image-path", tmp_path / name,
                             "--output-dir", tmp_path / "out")
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*_gradcam.png")) == ["狗_gradcam.png", "猫_gradcam.png"]
