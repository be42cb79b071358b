"""Plugins: a `.py` file or an importable module that registers models with timm, imported once.

They come from `--plugin` (files or modules) and from a checkpoint's recorded `plugins` (module names only, imported
when its architecture is not known yet: see `camviz.discovery.metadata`). camviz's own demo model is one of them.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from camviz.errors import CamvizError, UsageError

_IMPORTED_PLUGINS: set[str] = set()


def import_plugins(plugins: Sequence[str]) -> None:
    """Import each plugin (a `.py` file path or a dotted module name) once, so its models register."""
    for plugin in plugins:
        path = Path(plugin)
        is_file = plugin.endswith(".py") or path.is_file()
        key = str(path.resolve()) if is_file else plugin
        if key in _IMPORTED_PLUGINS:
            continue
        if is_file and not path.is_file():
            raise UsageError(f"plugin file not found: {plugin}")
        try:
            _import_file(path) if is_file else importlib.import_module(plugin)
        except ModuleNotFoundError as error:
            if is_file or not _names_plugin(error, plugin):  # the plugin itself imports something missing
                raise CamvizError(f"plugin {plugin} failed while importing: {type(error).__name__}: {error}") from error
            raise UsageError(f"cannot import plugin {plugin!r} ({error}); pass a .py file or an importable module") from error
        except SystemExit as error:  # a plugin must not end the run (exit code 0, no output)
            raise CamvizError(f"plugin {plugin} called sys.exit({error.code!r}) while importing") from error
        except Exception as error:
            raise CamvizError(f"plugin {plugin} failed while importing: {type(error).__name__}: {error}") from error
        _IMPORTED_PLUGINS.add(key)


def _names_plugin(error: ModuleNotFoundError, plugin: str) -> bool:
    """Whether the missing module is the plugin (or a package on its dotted path), not one it imports."""
    return error.name is None or plugin == error.name or plugin.startswith(f"{error.name}.")


def _import_file(path: Path) -> None:
    """Import a plugin file as module `camviz_plugin_<stem>` (registered first, as timm's registry needs)."""
    name = f"camviz_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"plugin file {path} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise

