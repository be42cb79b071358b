"""camviz.output.localization_summary: the baselines stand beside the CAM's scores on the same images, the summary
says in words where the CAM is no better, and rows without the baselines' scores add none."""

from __future__ import annotations

from camviz.output.localization_summary import localization_panel, summarize_localization
from camviz.output.result import ImageResult


def _row(index: int, true: str, cam: tuple[float, float, float], centre: tuple[float, float, float] | None,
         random: tuple[float, float, float] = (0.0, 0.1, 0.05)) -> ImageResult:
    scores = dict(zip(("pointing_hit", "energy_in_object", "iou"), cam, strict=True))
    if centre is not None:
        for name, values in (("center", centre), ("random", random)):
            scores |= {f"{name}_pointing_hit": values[0], f"{name}_energy_in_object": values[1],
                       f"{name}_iou": values[2]}
    return ImageResult(index=index, path=f"{index}.png", true=true, predicted=(true,), scores=scores)


def test_a_cam_that_points_where_the_centre_does_is_no_better_than_the_centre_baseline() -> None:
    rows = [_row(i, "cat", (1.0, 0.6, 0.5), (1.0, 0.3, 0.2)) for i in range(20)]
    summary = summarize_localization(rows)
    lines = summary.lines()
    assert lines[1] == ("  baselines on the same 20 images: centre map: pointing 100.0%, energy 0.300, IoU 0.200; "
                        "random map: pointing 0.0%, energy 0.100, IoU 0.050")
    assert lines[2] == "  pointing 100.0%: no better than the centre baseline, 100.0%"  # energy and IoU do beat it
    assert lines[3].startswith("  cat: pointing 100.0% (20/20)") and "no better than the centre baseline" in lines[3]
    panel = localization_panel(summary)
    assert panel is not None and panel[0] == ["all (20)", "CAM 100.0% / 0.600 / 0.500 \u00b7 centre 100.0% / 0.300 "
                                                          "/ 0.200 \u00b7 random 0.0% / 0.100 / 0.050"]


def test_ahead_on_too_few_images_is_not_clearly_better_and_a_clear_win_beats_both() -> None:
    few = summarize_localization([_row(i, "cat", (1.0, 0.6, 0.5), (float(i % 2), 0.3, 0.2)) for i in range(4)])
    assert "pointing 100.0%: not clearly better than the centre baseline, 50.0% (one-sided paired test p = 0.25, " \
           "4 images)" in few.lines()[2]
    many = summarize_localization([_row(i, "cat", (1.0, 0.6 + i / 100, 0.5), (0.0, 0.3, 0.2)) for i in range(12)])
    assert many.lines()[2] == "  the CAM beats both baselines on pointing, energy and IoU (one-sided paired tests, p < 0.05)"


def test_rows_without_the_baselines_scores_add_no_baseline_lines() -> None:
    summary = summarize_localization([_row(0, "cat", (1.0, 0.6, 0.5), None), _row(1, "dog", (0.0, 0.1, 0.0), None)])
    lines = summary.lines()
    assert len(lines) == 3 and not any("baseline" in line for line in lines)
    assert localization_panel(summary) is None
    assert summarize_localization([ImageResult(index=0, path="a", true="cat")]).lines() == []  # no ground truth
