"""A run's faithfulness bookkeeping in words (the summary) and as data (`run.json`'s `faithfulness`): each metric's
time per image, and the CAM's deletion/insertion means beside those of a centre map and a random map on the same
images, saying so when the CAM does not beat one."""

from __future__ import annotations

from camviz.cam.faithfulness_baselines import FaithfulnessReport

_NAMES = {"centre": "the centre baseline", "random": "the random baseline"}


def faithfulness_lines(report: FaithfulnessReport | None) -> list[str]:
    """The summary's lines: the baselines beside the CAM on the subset, and a verdict for each one not beaten."""
    if report is None or not report.baseline_images:
        return []
    lines = [f"faithfulness baselines on {report.baseline_images} images (a seeded subset of this run's; "
             "centre: a Gaussian at the image centre, random: seeded noise):"]
    for metric, own in report.cam_means.items():
        baselines = ", ".join(f"{name} {means[metric]:.4f}" for name, means in report.baseline_means.items())
        lines.append(f"  {metric}: CAM {own:.4f}, {baselines} ({'lower' if metric == 'deletion_auc' else 'higher'} "
                     "is better)")
    for metric, own in report.cam_means.items():
        for name, means in report.baseline_means.items():
            if not report.beats(metric, name):
                lines.append(f"  {metric} {own:.4f}: no better than {_NAMES.get(name, name)}, {means[metric]:.4f}")
    return lines


def faithfulness_record(report: FaithfulnessReport) -> dict[str, object]:
    """`run.json`'s `faithfulness`: seconds per image by metric; the baselines' and the CAM's means on the subset,
    and whether the CAM beats each baseline."""
    return {
        "seconds_per_image": {name: round(value, 6) for name, value in report.seconds_per_image.items()},
        "baseline_images": report.baseline_images,
        "cam_means": dict(report.cam_means),
        "baseline_means": {name: dict(means) for name, means in report.baseline_means.items()},
        "cam_beats_baseline": {name: {metric: report.beats(metric, name) for metric in report.cam_means}
                               for name in report.baseline_means},
    }
