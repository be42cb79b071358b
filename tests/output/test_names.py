"""camviz.output.names: output names are stable, safe on any filesystem, distinct where safe spellings collide and
never too long; through the real entry point, each odd file or class name gets its own row and its own files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from camviz.output.manifest import read_manifest
from camviz.output.names import STEM_BYTES, batch_stem, distinct_safe_names, filename_safe, single_stem
from tests.support.odd_names import LONG_FITS, LONG_NEVER_FITS, NON_UTF8


def test_names() -> None:
    assert batch_stem("gradcam", 7, "Dislocation", "Normal") == "gradcam_0007_true_Dislocation_pred_Normal"
    assert batch_stem("gradcam++", 12345, "a/b c", "ü") == "gradcam++_12345_true_a_b_c_pred_ü"
    assert filename_safe("Left lung: (AP)") == "Left_lung_AP"
    assert single_stem(Path("data/test/Dislocation/1004_l.jpg"), "gradcam") == "1004_l_gradcam"


def test_safe_names_keep_unicode_letters_and_stay_distinct() -> None:
    assert single_stem(Path("猫.png"), "gradcam") != single_stem(Path("狗.png"), "gradcam")
    assert single_stem(Path("猫.png"), "gradcam") == "猫_gradcam"
    assert filename_safe("cafe\u0301") == "café"  # NFC: the accent is kept, not replaced
    assert filename_safe("caf\udce9") == "caf"  # a non-UTF-8 byte (surrogate escape) never reaches a file name
    safe = distinct_safe_names(["猫", "狗", "狐", "a:b", "a?b", "Cat", "cat", "plain"])
    assert safe["猫"] == "猫" and safe["plain"] == "plain"
    assert len(set(safe.values())) == 8 and len({name.casefold() for name in safe.values()}) == 8
    assert safe["a:b"].startswith("a_b~") and safe == distinct_safe_names(["猫", "狗", "狐", "a:b", "a?b", "Cat",
                                                                           "cat", "plain"]), "stable"


def test_names_too_long_are_shortened_with_a_stable_hash() -> None:
    long = "類" * 120  # 360 bytes in UTF-8
    stem = batch_stem("gradcam", 3, long, "b")
    assert len(stem.encode()) <= STEM_BYTES and stem == batch_stem("gradcam", 3, long, "b")
    assert stem != batch_stem("gradcam", 3, long + "x", "b")
    assert batch_stem("gradcam", 3, "short", "b") == "gradcam_0003_true_short_pred_b"


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
