"""How the command line reads what Typer's types do not: `--config` presets, `--img-size H W`, number lists."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperCommand


def read_config(ctx: typer.Context, param: typer.CallbackParam, value: Optional[Path]) -> Optional[Path]:
    """`--config FILE.toml`: its keys become the command's defaults, so flags on the command line win."""
    if value is None:
        return None
    try:
        table = tomllib.loads(value.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise typer.BadParameter(f"cannot read {value}: {error}") from error
    table = dict(table.get(ctx.info_name or "", table))
    families = table.pop("family", [])
    if families:
        from camviz.discovery.families import family_from_config

        ctx.meta["camviz.families"] = tuple(family_from_config(entry) for entry in families)
    known = {p.name for p in ctx.command.params}
    settings = {key.replace("-", "_"): setting for key, setting in table.items()}
    if isinstance(settings.get("metrics"), bool):  # a preset's `metrics = true`: all of them
        settings["metrics"] = "all" if settings["metrics"] else None
    if isinstance(settings.get("img_size"), list):  # a preset's `img-size = [96, 160]`
        settings["img_size"] = "x".join(str(v) for v in settings["img_size"])
    unknown = sorted(set(settings) - known)
    if unknown:
        raise typer.BadParameter(f"{value} has unknown keys: {', '.join(unknown)}")
    ctx.default_map = {**(ctx.default_map or {}), **settings}
    return value


IMG_SIZE_HELP = "Model input size: 224, or HEIGHT WIDTH / HxW (default: the checkpoint's, else the model's, else 224)."


def join_img_size(args: list[str]) -> list[str]:
    """`--img-size 96 160` -> `--img-size 96x160` (click options take a fixed number of values)."""
    joined: list[str] = []
    position = 0
    while position < len(args):
        if args[position] == "--img-size" and all(a.isdigit() for a in args[position + 1 : position + 3]) \
                and position + 2 < len(args):
            joined += ["--img-size", f"{args[position + 1]}x{args[position + 2]}"]
            position += 3
            continue
        joined.append(args[position])
        position += 1
    return joined


def bare_metrics(args: list[str]) -> list[str]:
    """A bare `--metrics` (last, or followed by another option) -> `--metrics=all` (Typer options that take a value
    cannot also be plain flags)."""
    return [f"{arg}=all" if arg == "--metrics" and (position + 1 == len(args) or args[position + 1].startswith("-"))
            else arg for position, arg in enumerate(args)]


class SizedCommand(TyperCommand):
    """A command whose `--img-size` takes one number, `HxW`, or two numbers, and whose `--metrics` may be bare."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]  # typer.Context is the one Typer passes
        return super().parse_args(ctx, bare_metrics(join_img_size(args)))


def parse_metrics(value: Optional[str]) -> tuple[str, ...]:
    """`--metrics road,deletion` -> the metrics' column names (`camviz.cam.metrics.metric_names`); None -> none."""
    if value is None:
        return ()
    from camviz.cam.metrics import metric_names  # torch: imported only when the option is given
    from camviz.errors import UsageError

    try:
        return metric_names(value)
    except UsageError as error:
        raise typer.BadParameter(str(error).removeprefix("--metrics: "), param_hint="--metrics") from error


def parse_img_size(value: Optional[str]) -> Optional[int | tuple[int, int]]:
    """`224` -> 224, `96x160` (or `96,160`) -> (96, 160)."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*(?:[x,\s]\s*(\d+)\s*)?", str(value).lower())
    if match is None:
        raise typer.BadParameter(f"{value!r}: give one size (224) or HEIGHT WIDTH (96 160, 96x160)", param_hint="--img-size")
    height, width = match.groups()
    return int(height) if width is None else (int(height), int(width))


def split_classes(classes: Optional[str]) -> tuple[str, ...]:
    """`--classes A,B` -> ("A", "B")."""
    return tuple(name.strip() for name in (classes or "").split(",") if name.strip())


def parse_floats(value: Optional[str], option: str) -> Optional[tuple[float, ...]]:
    """`0.5,0.5,0.5` -> (0.5, 0.5, 0.5); None stays None."""
    if value is None:
        return None
    try:
        return tuple(float(part) for part in value.split(","))
    except ValueError as error:
        raise typer.BadParameter(f"{value!r}: give numbers separated by commas (0.5,0.5,0.5)", param_hint=option) from error


def parse_tests(values: Optional[list[str]], valid: tuple[str, ...], default: tuple[str, ...]) -> tuple[str, ...]:
    """`--test emprt --test cascading,random-logit` -> the names in order, once each; none given: `default`."""
    names = [name.strip().lower() for value in values or () for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in valid]
    if unknown:
        from camviz.errors import UsageError

        raise UsageError(f"unknown --test {unknown[0]!r}; give one or more of {', '.join(valid)}")
    return tuple(dict.fromkeys(names)) or default
