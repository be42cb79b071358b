"""camviz.run.provenance and camviz.output.run_record: every run leaves a `run.json` saying what made its outputs;
`--resume` ignores it; the gallery shows it in its "run" panel."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import textwrap
from datetime import datetime
from importlib import metadata
from pathlib import Path

import matplotlib
import pytest

from camviz.demo import CHECKPOINT_PATH
from camviz.output.gallery import GALLERY_NAME
from camviz.output.run_record import RUN_RECORD_NAME, read_run_record
from tests.support.cli import script_env
from tests.support.manifest import manifest_rows


def _explain(camviz_main, data: Path, out: Path, *extra: object):
    return camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", data, "--output-dir", out,
                       "--num-workers", 0, *extra)


def _record(out: Path) -> dict:
    return json.loads((out / RUN_RECORD_NAME).read_text(encoding="utf-8"))


def test_a_batch_run_records_versions_command_model_settings_times_and_counts(camviz_main, small_split,
                                                                               tmp_path, monkeypatch) -> None:
    home = tmp_path / "home"  # the user's home folder: shown as ~ wherever it starts a path
    data, out = home / "data", home / "out"
    shutil.copytree(small_split, data)
    monkeypatch.setenv("HOME", str(home))
    result = _explain(camviz_main, data, out, "--method", "gradcam++")
    assert result.returncode == 0, result.stderr
    record = _record(out)
    for name in ("camviz", "torch", "timm", "grad-cam"):
        assert record["versions"][name] == metadata.version(name)
    assert "transformers" in record["versions"]
    command = shlex.split(record["command"])
    assert command[:3] == ["camviz", "explain", "--model-path"] and "gradcam++" in command
    assert command[command.index("--data-dir") + 1] == "~/data" and command[command.index("--output-dir") + 1] == "~/out"
    assert record["options"]["cam"]["method"] == "gradcam++" and record["options"]["inputs"]["data_dir"] == "~/data"
    model = record["model"]
    assert model["name"] == "camviz_shapenet" and model["target_layers"] and model["family"]
    assert model["input"]["size"] == [96, 96] and model["input"]["channels"] == 3
    assert model["output"]["kind"] == "softmax" and model["class_names"] == ["circle", "square", "triangle"]
    assert record["method"] == model["method"] == "gradcam++" and record["device"] == "cpu"
    assert record["mode"] == "batch" and record["status"] == "exit 0"
    started, ended = (datetime.fromisoformat(record[k]) for k in ("started", "ended"))
    assert started <= ended
    assert record["counts"]["processed"] == 6 and record["counts"]["skipped"] == 0
    assert record["settings_key"] and all(row["source"].startswith(record["settings_key"] + ":")
                                          for row in manifest_rows(out)), "the key is the one --resume checks"
    page = (out / GALLERY_NAME).read_text(encoding="utf-8")
    assert '["settings key","' + record["settings_key"] + '"]' in page and "runPanel" in page
    assert "~/data" in page and str(home) not in page and str(home) not in (out / RUN_RECORD_NAME).read_text()


@pytest.mark.process
def test_a_run_called_from_a_script_records_camviz_options_not_the_scripts_command_line(small_split,
                                                                                          tmp_path) -> None:
    """A training or evaluation script calls `camviz.explain`: its own arguments (an API key, a token) are not
    camviz's command line, and reach neither run.json nor the gallery; camviz's options do, the home folder as ~."""
    home = tmp_path / "home"
    shutil.copytree(small_split, home / "data")
    script = home / "evaluate.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from pathlib import Path

        import camviz

        assert sys.argv[1:] == ["--api-key=SECRET123", "--hf-token", "hf_SECRET123"]
        options = camviz.ExplainOptions(model=camviz.ModelOptions(path=Path({str(CHECKPOINT_PATH)!r})),
                                        inputs=camviz.InputOptions(data_dir=Path.home() / "data"),
                                        output=camviz.OutputOptions(output_dir=Path.home() / "figures"), num_workers=0)
        sys.exit(camviz.explain(options).exit_code)
    """))
    env = {**script_env(), "HOME": str(home), "MPLCONFIGDIR": matplotlib.get_cachedir()}
    result = subprocess.run([sys.executable, str(script), "--api-key=SECRET123", "--hf-token", "hf_SECRET123"],
                            capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    out = home / "figures"
    shown = {name: (out / name).read_text(encoding="utf-8") for name in (RUN_RECORD_NAME, GALLERY_NAME)}
    for name, text in shown.items():
        assert "SECRET123" not in text and "evaluate.py" not in text and str(home) not in text, name
    record = _record(out)
    assert record["command"] is None and record["status"] == "exit 0" and record["counts"]["processed"] == 6
    assert record["options"]["inputs"]["data_dir"] == "~/data" and record["options"]["output"]["output_dir"] == "~/figures"
    assert record["options"]["model"]["path"] == str(CHECKPOINT_PATH)
    assert "called from Python" in shown[GALLERY_NAME]


def test_resume_ignores_run_json_and_rewrites_it(camviz_main, small_split, tmp_path) -> None:
    out = tmp_path / "out"
    assert _explain(camviz_main, small_split, out).returncode == 0
    first = _record(out)
    (out / RUN_RECORD_NAME).write_text("not json {", encoding="utf-8")  # a record is never read back as a key
    result = _explain(camviz_main, small_split, out, "--resume")
    assert result.returncode == 0, result.stderr
    second = _record(out)
    assert "already done before --resume: 6" in result.stdout
    assert second["settings_key"] == first["settings_key"] and second["counts"]["resumed"] == 6


def test_a_single_run_and_a_failed_run_are_recorded(camviz_main, circle_image, tmp_path) -> None:
    out = tmp_path / "single"
    result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--image-path", circle_image,
                         "--output-dir", out)
    assert result.returncode == 0, result.stderr
    record = read_run_record(out)
    assert record["mode"] == "single" and record["counts"] == {"files": 2} and record["status"] == "exit 0"

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--image-path", broken,
                         "--output-dir", tmp_path / "failing")
    assert result.returncode == 1
    record = read_run_record(tmp_path / "failing")
    assert record["status"].startswith("error: cannot decode broken.png") and record["ended"], record
