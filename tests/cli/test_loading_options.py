"""Every command that loads a model takes every loading option, declared once (`camviz.cli.options.MODEL`): the
student/teacher Lightning checkpoint that `explain` reads with `--state-prefix` is read so by `sanity`, `compare`,
`layers` and `families` too, and the lookup's warning reaches the terminal and `run.json` from `explain`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
import torchvision
import typer

from camviz.cli.commands import app
from camviz.discovery.options import ModelOptions
from tests.support.lightning_checkpoints import lightning_checkpoint
from tests.support.manifest import manifest_rows

LOADING_COMMANDS = ("explain", "sanity", "compare", "layers", "families")


def _options(command: str) -> set[str]:
    """The long option names a command takes, as Click parses them."""
    group = typer.main.get_command(app)
    return {name for param in group.commands[command].params for name in param.opts if name.startswith("--")}


@pytest.mark.parametrize("command", LOADING_COMMANDS)
def test_every_loading_command_takes_every_loading_option(command: str) -> None:
    fields = {field.name for field in dataclasses.fields(ModelOptions)} - {"families"}  # families: --config presets
    spelled = {"path": "--model-path", "name": "--model-name", "output": "--multi-label", "target_layers": "--target-layer",
               "plugins": "--plugin"}
    wanted = {spelled.get(name, "--" + name.replace("_", "-")) for name in fields}
    assert wanted <= _options(command), sorted(wanted - _options(command))


@pytest.fixture(scope="module")
def student_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lightning") / "distil.ckpt"
    lightning_checkpoint(path, ("student", "teacher"))
    return path


@pytest.mark.parametrize("command", ["sanity", "compare", "layers", "explain", "families"])
def test_state_prefix_reads_a_student_and_teacher_checkpoint_in_every_command(
        camviz_main, student_teacher: Path, circle_image: Path, tmp_path: Path, command: str) -> None:
    args = {"sanity": ["--image-path", circle_image, "--output-dir", tmp_path / "s", "--draws", 1],
            "compare": ["--image-path", circle_image, "--method", "gradcam", "--output", tmp_path / "c.png"],
            "layers": ["--json"], "families": [],
            "explain": ["--image-path", circle_image, "--output-dir", tmp_path / "e"]}[command]
    common = [command, "--model-path", student_teacher, *args]
    if command not in ("layers", "families"):
        common += ["--cpu", "--img-size", 32]

    refused = camviz_main(*common)
    assert refused.returncode == 2 and "choose one with --state-prefix" in refused.stderr, refused.stderr
    chosen = camviz_main(*common, "--state-prefix", "teacher")
    assert chosen.returncode == 0, chosen.stderr
    if command == "layers":
        assert json.loads(chosen.stdout)["model_name"] == "test_resnet"
    if command == "families":
        assert "test_resnet: rule " in chosen.stdout, chosen.stdout


@pytest.fixture(scope="module")
def two_networks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain checkpoint holding two test_resnets with different weights, under `backbone.` and `teacher.`: the
    keys fit only with a prefix stripped, and which one is for --state-prefix to say."""
    import timm

    networks = {}
    for seed, prefix in enumerate(("backbone.", "teacher.")):
        torch.manual_seed(seed)
        weights = timm.create_model("test_resnet", num_classes=3).state_dict()
        networks.update({prefix + key: value for key, value in weights.items()})
    path = tmp_path_factory.mktemp("prefixed") / "two.pth"
    torch.save({"model_name": "test_resnet", "num_classes": 3, "state_dict": networks}, path)
    return path


@pytest.mark.process
@pytest.mark.parametrize("command", ["sanity", "compare", "families"])
def test_state_prefix_in_a_real_process(camviz, two_networks: Path, circle_image: Path, tmp_path: Path,
                                        command: str) -> None:
    """Issue 26: `sanity`, `compare` and `families --model-path` asked for --state-prefix and then refused it (the
    refusal without it: `test_state_prefix_reads_a_student_and_teacher_checkpoint_in_every_command`)."""
    args = {"sanity": ["--image-path", circle_image, "--output-dir", tmp_path / "s", "--draws", 1, "--cpu",
                       "--img-size", 32],
            "compare": ["--image-path", circle_image, "--method", "gradcam", "--cpu", "--img-size", 32],
            "families": []}[command]

    def run(*extra: object, output: Path = tmp_path / "compare.png"):
        return camviz(command, "--model-path", two_networks, *args, *extra,
                      *(["--output", output] if command == "compare" else []))

    chosen = run("--state-prefix", "backbone")
    assert chosen.returncode == 0, chosen.stderr
    if command == "families":
        assert "test_resnet: rule " in chosen.stdout, chosen.stdout
    if command == "compare":  # the other network draws another figure: the prefix chose the weights
        assert run("--state-prefix", "teacher", output=tmp_path / "teacher.png").returncode == 0
        assert (tmp_path / "compare.png").read_bytes() != (tmp_path / "teacher.png").read_bytes()


def _tags_checkpoint(path: Path) -> Path:
    """The shipped shapes classifier recorded as multi-label (a sigmoid per shape)."""
    from tests.support.checkpoints import save_demo_checkpoint

    return save_demo_checkpoint(path, multi_label=True)


def test_resume_redoes_rows_made_at_another_threshold(camviz_main, small_split: Path, tmp_path: Path) -> None:
    checkpoint = _tags_checkpoint(tmp_path / "tags.pth")

    def run(out: Path, threshold: float, *extra: str):
        return camviz_main("explain", "--model-path", checkpoint, "--data-dir", small_split, "--output-dir", out,
                           "--num-workers", 0, "--threshold", threshold, *extra)

    assert run(tmp_path / "out", 0.9).returncode == 0
    strict = [row["pred"] for row in manifest_rows(tmp_path / "out")]
    resumed = run(tmp_path / "out", 0.05, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "6 earlier rows were made with other settings" in resumed.stderr, resumed.stderr
    assert run(tmp_path / "fresh", 0.05).returncode == 0
    fresh = [row["pred"] for row in manifest_rows(tmp_path / "fresh")]
    assert [row["pred"] for row in manifest_rows(tmp_path / "out")] == fresh != strict
    assert all(pred.count("+") == 2 for pred in fresh), fresh  # every shape passes 0.05


def test_explain_says_the_lookups_fallback_warning_and_run_json_keeps_it(camviz_main, circle_image: Path,
                                                                         tmp_path: Path) -> None:
    checkpoint = tmp_path / "squeezenet.pth"
    model = torchvision.models.squeezenet1_1(weights=None, num_classes=3)
    torch.save({"model_name": "squeezenet1_1", "state_dict": model.state_dict(), "num_classes": 3}, checkpoint)

    result = camviz_main("explain", "--model-path", checkpoint, "--image-path", circle_image, "--img-size", 64,
                         "--cpu", "--output-dir", tmp_path / "out")

    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "no family row or timm metadata" in line]
    assert len(warnings) == 1 and "--target-layer" in warnings[0], result.stderr
    notes = json.loads((tmp_path / "out" / "run.json").read_text())["notes"]
    assert any("no family row or timm metadata" in note for note in notes), notes


@pytest.mark.parametrize(("flags", "words"), [(["--mean", "0.5,0.5"], "--mean must be one number or three"),
                                              (["--std", "0,0,0"], "finite and positive"),
                                              (["--class-names", "a,b"], "2 class names for a model with 3 classes")])
def test_bad_loading_values_are_one_line(camviz_main, circle_image: Path, tmp_path: Path, flags: list[str],
                                         words: str) -> None:
    from camviz.demo import CHECKPOINT_PATH

    result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--image-path", circle_image, "--cpu",
                         "--output-dir", tmp_path, *flags)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and words in lines[0], result.stderr
