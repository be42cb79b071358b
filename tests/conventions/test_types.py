"""The house rules for camviz's own types (DESIGN.md, "Concepts are values"), read off the source: a dataclass of
more than five fields is keyword-only, and no camviz type is built with more than three positional arguments."""

from __future__ import annotations

import ast
from pathlib import Path

import camviz

SOURCE = Path(camviz.__file__).parent
MOST_FIELDS_BY_POSITION = 5
MOST_POSITIONAL_ARGUMENTS = 3


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"))) for path in sorted(SOURCE.rglob("*.py"))]


def _dataclass_keywords(node: ast.ClassDef) -> dict[str, ast.expr] | None:
    """The keywords of the class's `@dataclass(...)` decorator ({} for a bare `@dataclass`), None if it has none."""
    for decorator in node.decorator_list:
        call = decorator if isinstance(decorator, ast.Call) else None
        target = call.func if call else decorator
        if isinstance(target, ast.Name) and target.id == "dataclass":
            return {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg} if call else {}
    return None


def _field_count(node: ast.ClassDef) -> int:
    return sum(isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) for item in node.body)


def _classes() -> dict[str, tuple[Path, ast.ClassDef]]:
    return {node.name: (path, node) for path, module in _modules() for node in ast.walk(module)
            if isinstance(node, ast.ClassDef)}


def test_dataclasses_of_more_than_five_fields_are_keyword_only() -> None:
    positional = []
    for name, (path, node) in _classes().items():
        keywords = _dataclass_keywords(node)
        if keywords is None or _field_count(node) <= MOST_FIELDS_BY_POSITION:
            continue
        kw_only = keywords.get("kw_only")
        if not (isinstance(kw_only, ast.Constant) and kw_only.value is True):
            positional.append(f"{path.relative_to(SOURCE.parent)}: {name} ({_field_count(node)} fields)")
    assert not positional, positional


def test_no_camviz_type_is_built_with_more_than_three_positional_arguments() -> None:
    ours = set(_classes())
    found = []
    for path, module in _modules():
        foreign = {alias.asname or alias.name for node in ast.walk(module) if isinstance(node, ast.ImportFrom)
                   and not (node.module or "").startswith("camviz") for alias in node.names}  # rich's Progress...
        for node in ast.walk(module):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ours - foreign \
                    and len(node.args) > MOST_POSITIONAL_ARGUMENTS:
                found.append(f"{path.relative_to(SOURCE.parent)}:{node.lineno} {node.func.id}({len(node.args)} positional)")
    assert not found, found
