"""User plugins: a `.py` file or an importable module that registers models with timm, imported once."""

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
        try:
            _import_file(path) if is_file else importlib.import_module(plugin)
        except FileNotFoundError as error:
            raise UsageError(f"plugin file not found: {plugin}") from error
        except ModuleNotFoundError as error:
            raise UsageError(f"cannot import plugin {plugin!r} ({error}); pass a .py file or an importable module") from error
        except Exception as error:
            raise CamvizError(f"plugin {plugin} failed while importing: {type(error).__name__}: {error}") from error
        _IMPORTED_PLUGINS.add(key)


def _import_file(path: Path) -> None:
    """Import a plugin file as module `camviz_plugin_<stem>` (registered first, as timm's registry needs)."""
    if not path.is_file():
        raise FileNotFoundError(path)
    name = f"camviz_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
