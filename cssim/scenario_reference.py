"""The scenario reference: every field, its type, default and meaning."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from cssim.distributions import Distribution
from cssim.scenario import Label

SECTIONS: list[tuple[str, str]] = [
    ("", "Scenario"),
    ("segments.NAME", "Segment"),
    ("segments.NAME.transitions", "Transitions"),
    ("segments.NAME.renewal", "Renewal"),
    ("(a posterior row: transitions or renewal)", "DirichletRow"),
    ("(a posterior probability)", "UncertainProbability"),
    ("reps[]", "RepGroup"),
    ("methods.NAME", "Method"),
    ("methods.NAME.response", "Response"),
    ("methods.NAME.unrelated_requests", "UnrelatedRequests"),
    ("policy", "Policy"),
    ("policy.attempts[]", "Attempt"),
    ("policy.waves[]", "Wave"),
    ("policy.release", "Release"),
    ("engagement", "Engagement"),
]


def reference_markdown() -> str:
    """Markdown tables of every scenario field, one table per section."""
    import cssim.scenario as schema

    lines: list[str] = []
    for path, model_name in SECTIONS:
        model = getattr(schema, model_name)
        lines += [f"#### `{path or '(top level)'}`", ""]
        lines += ["| field | type | default | meaning |", "| --- | --- | --- | --- |"]
        for name, field in model.model_fields.items():
            default = "required" if field.is_required() else _default(field.default)
            labels = [m for m in field.metadata if isinstance(m, Label)]
            kind = labels[0].text if labels else _type_name(field.annotation)
            meaning = (field.description or "").replace("\n", " ")
            lines.append(f"| `{name}` | {kind} | {default} | {meaning} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _default(value: Any) -> str:
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, Distribution):
        if value.family == "constant":
            return f"`{value.params['value']:g}`"
        return f"`{value.describe()}`"
    if isinstance(value, BaseModel):
        return "see below"
    if value is None:
        return "none"
    if value in ({}, [], ""):
        return "empty"
    if isinstance(value, dict):
        return "`" + ", ".join(f"{k}: {v:g}" if isinstance(v, float) else f"{k}: {v}"
                               for k, v in value.items()) + "`"
    return f"`{value}`"


def _type_name(annotation: Any) -> str:
    if annotation is Any:
        return "probability, or per tier"
    if annotation is Distribution:
        return "distribution"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " or ".join(f"`{arg}`" for arg in args)
    if origin in (list, dict):
        return f"{origin.__name__} of {_type_name(args[-1])}"
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(arg) for arg in args if arg is not type(None)]
        return " or ".join(names)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))

