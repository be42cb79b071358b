"""camviz.output.names: output names are stable, safe on any filesystem, distinct where safe spellings collide and
never too long; through the real entry point, each odd file or class name gets its own row and its own files."""

from __future__ import annotations

from pathlib import Path

from camviz.output.names import STEM_BYTES, batch_stem, distinct_safe_names, filename_safe, single_stem


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
