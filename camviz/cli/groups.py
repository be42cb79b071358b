"""Option groups: each concept's options declared once, as a function whose parameters are the options and whose
result is the concept's value; `@grouped` puts a group's options on every command that takes that value.

A command names the value it wants with the group in the parameter's annotation
(`model: Annotated[ModelOptions, MODEL]`); Typer sees the group's options in its place, and the command is called
with the value they build.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, get_args, get_origin, get_type_hints

import typer

_CONTEXT = "camviz_context"  # the Click context, handed to groups that read presets from it


@dataclass(frozen=True)
class OptionGroup:
    """A concept's options (the parameters of `build`) and how they make its value (`build` itself)."""

    build: Callable[..., Any]
    defaults: Mapping[str, Any] = field(default_factory=dict)  # this command's own defaults for some options
    left_out: frozenset[str] = frozenset()  # options this command does not take (their defaults are used)

    def with_defaults(self, **defaults: Any) -> OptionGroup:
        """The same group with other defaults for some options (`sanity --num-samples 16`, say)."""
        return replace(self, defaults={**self.defaults, **defaults})

    def without(self, *names: str) -> OptionGroup:
        """The same group without some options (a command that takes several methods leaves out `--method`)."""
        return replace(self, left_out=self.left_out | set(names))

    def parameters(self) -> list[inspect.Parameter]:
        """The options as keyword-only parameters, annotations resolved, this command's defaults applied."""
        hints = get_type_hints(self.build, include_extras=True)
        return [parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints[parameter.name],
                                  default=self.defaults.get(parameter.name, parameter.default))
                for parameter in self._own()]

    def value(self, values: dict[str, Any], context: typer.Context) -> Any:
        """The group's value from the parsed options, which are taken out of `values`."""
        taken = {parameter.name: values.pop(parameter.name) for parameter in self._own()}
        if "ctx" in inspect.signature(self.build).parameters:
            taken["ctx"] = context
        return self.build(**taken)

    def _own(self) -> list[inspect.Parameter]:
        return [parameter for name, parameter in inspect.signature(self.build).parameters.items()
                if name != "ctx" and name not in self.left_out]


def grouped(command: Callable[..., Any]) -> Callable[..., Any]:
    """A Typer command whose parameters annotated with an `OptionGroup` are replaced by the groups' options."""
    signature = inspect.signature(command)
    hints = get_type_hints(command, include_extras=True)
    groups = {name: group for name in signature.parameters if (group := _group_of(hints[name])) is not None}
    parameters: list[inspect.Parameter] = []
    for name, parameter in signature.parameters.items():
        if name in groups:
            parameters += groups[name].parameters()
        else:
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints[name]))
    own_context = next((name for name in signature.parameters if hints[name] is typer.Context), None)
    if own_context is None:  # Typer hands the Click context to one parameter: the command's own, else this one
        parameters.append(inspect.Parameter(_CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))
    names = [parameter.name for parameter in parameters]
    if len(names) != len(set(names)):
        raise TypeError(f"{command.__name__}: an option is declared twice ({names})")

    @functools.wraps(command)
    def with_values(**values: Any) -> Any:
        context = values[own_context] if own_context is not None else values.pop(_CONTEXT)
        built = {name: group.value(values, context) for name, group in groups.items()}
        return command(**values, **built)

    with_values.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    with_values.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    return with_values


def _group_of(hint: Any) -> OptionGroup | None:
    """The `OptionGroup` in an `Annotated[Value, GROUP]` hint, if any."""
    if get_origin(hint) is not Annotated:
        return None
    return next((extra for extra in get_args(hint)[1:] if isinstance(extra, OptionGroup)), None)
