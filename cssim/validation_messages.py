"""One readable line per pydantic validation problem, for scenario and mapping files.

Each line names the field path, what was expected and the value received;
an unknown key gets a did-you-mean from the fields allowed at its place.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel

SHORT_VALUE = 80


def describe_problem(item: dict[str, Any], root: type[BaseModel]) -> str:
    """One line for one pydantic error found while validating ``root``."""
    location = [str(part) for part in item["loc"]]
    location = [part for part in location if not _is_union_branch(part)]
    field = ".".join(location) or "(top level)"
    value = item.get("input")

    if item["type"] == "extra_forbidden":
        known = known_fields(root, location[:-1])
        hint = difflib.get_close_matches(location[-1], known, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        allowed = ""
        if known and not hint:
            allowed = f" (allowed: {', '.join(sorted(known))})"
        return f"{field}: unknown field{suggestion}{allowed}"
    if item["type"] == "missing":
        return f"{field}: required field is missing"

    message = item["msg"].removeprefix("Value error, ")
    message = message[0].lower() + message[1:]
    if isinstance(value, dict) and item["type"] == "value_error":
        return f"{field}: {message}"
    return f"{field}: {message} (got {short(value)})"


def short(value: Any) -> str:
    """A value's repr, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= SHORT_VALUE else text[:SHORT_VALUE - 3] + "..."


def known_fields(root: type[BaseModel], location: list[str]) -> list[str]:
    """Field names allowed at a location, found by walking the schema."""
    model: Any = root
    for part in location:
        field = model.model_fields.get(part)
        if field is not None:
            model = model_in(field.annotation)
        if model is None:
            return []
    return list(model.model_fields)


def model_in(annotation: Any) -> Any:
    """The BaseModel inside an annotation: X, list[X], dict[str, X] or X | None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = model_in(arg)
        if found is not None:
            return found
    return None


def _is_union_branch(part: str) -> bool:
    """Location parts pydantic adds for union members, not field names."""
    return (
        part.startswith(("constrained-float", "function-", "float", "dict["))
        or part in {"UncertainProbability", "int", "str"}
        or "[" in part
    )
