"""camviz.render: names, the composed figure, atomic writes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from camviz.errors import OutputError

from camviz.output.files import partial_name, remove_partial_files, write_atomic
from camviz.output.figures import compose_figure, encode_image, heatmap, overlay
from camviz.output.names import STEM_BYTES, batch_stem, distinct_safe_names, filename_safe, single_stem


def test_names() -> None:
    assert batch_stem("gradcam", 7, "Dislocation", "Normal") == "gradcam_0007_true_Dislocation_pred_Normal"
    assert batch_stem("gradcam++", 12345, "a/b c", "ü") == "gradcam++_12345_true_a_b_c_pred_ü"
    assert filename_safe("Left lung: (AP)") == "Left_lung_AP"
    assert single_stem(Path("data/test/Dislocation/1004_l.jpg"), "gradcam") == "1004_l_gradcam"


def test_figure_has_three_titled_panels_and_a_colour_bar() -> None:
    display = np.random.default_rng(0).random((96, 96, 3), dtype=np.float32)
    cam = np.zeros((96, 96), np.float32)
    cam[10:30, 60:80] = 1.0
    figure = compose_figure(display, cam, overlay(display, cam), ("Input | a", "gradcam heatmap | b", "Overlay | c"))
    scale = 3  # 96 px panels are scaled up to at least 224 px
    assert figure.dtype == np.uint8 and figure.shape[0] == 48 + 96 * scale
    assert figure.shape[1] == 3 * 96 * scale + 56 + 2 * 12
    heat_panel = figure[48:, 96 * scale + 12: 2 * 96 * scale + 12]
    assert np.array_equal(heat_panel[20 * scale, 70 * scale], heatmap(np.ones((1, 1), np.float32))[0, 0])
    title_band = figure[:48]
    assert (title_band < 128).any(), "titles are drawn"


def test_overlay_is_pytorch_grad_cams() -> None:
    display = np.full((8, 8, 3), 0.5, np.float32)
    cam = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    result = overlay(display, cam)
    assert result.shape == (8, 8, 3) and result.dtype == np.uint8
    assert not np.array_equal(result[0, 0], result[-1, -1])


def test_write_atomic_leaves_only_the_final_file(tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    write_atomic(target, encode_image(np.zeros((4, 4, 3), np.uint8)))
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]
    assert cv2.imread(str(target)).shape == (4, 4, 3)
    with pytest.raises(OutputError, match="cannot write .*y.png: No such file"):
        write_atomic(tmp_path / "missing" / "y.png", b"data")
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


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


@pytest.mark.parametrize("name", ["x.png", "a" * 60 + ".png", "類" * 80 + ".png", "a" * 251 + ".png"])
def test_temporary_names_are_never_longer_than_the_final_name(name: str) -> None:
    temporary = partial_name(name)
    assert len(temporary.encode()) <= max(len(name.encode()), 40)
    assert temporary.startswith(".") and temporary.endswith(".part")
    temporary.encode("utf-8")  # never a split character


def test_write_atomic_fits_a_final_name_of_255_bytes(tmp_path: Path) -> None:
    target = tmp_path / ("é" * 125 + ".png")  # 254 bytes: fits, its old `.{name}.XXXXXXXX.part` did not
    write_atomic(target, b"data")
    assert target.read_bytes() == b"data" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_only_own_or_orphaned_temporary_files_are_removed(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        others = tmp_path / partial_name("b.png", pid=live.pid)
        orphan = tmp_path / partial_name("c.png", pid=int(dead.stdout))
        mine = tmp_path / partial_name("a.png", pid=os.getpid())
        foreign = tmp_path / ".d.png.tool.part"  # not camviz's spelling
        for path in (others, orphan, mine, foreign):
            path.write_bytes(b"x")
        remove_partial_files(tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([others.name, foreign.name])
    finally:
        live.kill()
        live.wait()
