"""Reading scenario files: YAML in, a validated Scenario or a precise error out."""

from __future__ import annotations

import copy
import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cssim.errors import CoverageWarning, ScenarioError
from cssim.scenario import Scenario
from cssim.validation_messages import describe_problem


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; relative account files resolve beside it.

    Raises ``ScenarioError`` naming the file, each bad field's path, the value
    received and what was expected. Warns with ``CoverageWarning`` for a
    targeted segment that no rep covers.
    """
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except OSError as error:
        raise ScenarioError(str(path), [f"cannot read the file: {error.strerror}"])
    except UnicodeDecodeError as error:
        raise ScenarioError(str(path), [
            f"not UTF-8 text (byte {error.start}); save the scenario as UTF-8 YAML"])
    except yaml.YAMLError as error:
        text = str(error).replace('"<unicode string>"', str(path))
        raise ScenarioError(str(path), [f"not valid YAML: {text}"])
    if not isinstance(raw, dict):
        raise ScenarioError(
            str(path),
            [f"expected a mapping of scenario fields, got {type(raw).__name__}"],
        )

    _resolve_account_paths(raw, path.parent)
    scenario = scenario_from_dict(raw, source=str(path))
    check_accounts(scenario)
    return scenario


def check_accounts(scenario: Scenario) -> None:
    """Read every accounts CSV now, so a bad row fails before anything runs."""
    from cssim.book import read_accounts

    for name, segment in scenario.segments.items():
        if segment.accounts is not None:
            read_accounts(name, segment, scenario.start_date)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"key {key!r} is given twice (line {seen[key] + 1} and line "
                    f"{key_node.start_mark.line + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def scenario_from_dict(raw: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate plain data as a scenario, with the same errors as a file."""
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as error:
        raise ScenarioError(source, [describe_problem(item, Scenario)
                                     for item in error.errors()])

    for name in scenario.uncovered_segments():
        warnings.warn(
            f"{source}: segment {name!r} is targeted by the policy but no rep "
            "covers it; its customers will never be contacted",
            CoverageWarning,
            stacklevel=2,
        )
    return scenario


def with_overrides(scenario: Scenario, overrides: dict[str, Any]) -> Scenario:
    """A copy of the scenario with fields replaced by dotted path, re-validated.

    ``{"reps.0.count": 6, "methods.phone.handling_minutes": 12}`` is the form
    that sweeps and A/B arms use.
    """
    raw = copy.deepcopy(scenario.model_dump(mode="json", exclude_unset=False))
    for dotted, value in overrides.items():
        set_field(raw, dotted, value)
    return scenario_from_dict(raw, source=f"{scenario.name} with overrides")


def set_field(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set a nested value of plain scenario data by dotted path; lists by index."""
    keys = dotted.split(".")
    node: Any = raw
    for key in keys[:-1]:
        if isinstance(node, list):
            node = node[int(key)]
        else:
            node = node.setdefault(key, {})
    if isinstance(node, list):
        node[int(keys[-1])] = value
    else:
        node[keys[-1]] = value


def content_hash(scenario: Scenario) -> str:
    """A short digest of the resolved scenario, for tagging runs."""
    text = json.dumps(scenario.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _resolve_account_paths(raw: dict[str, Any], folder: Path) -> None:
    segments = raw.get("segments")
    if not isinstance(segments, dict):
        return
    for segment in segments.values():
        if isinstance(segment, dict) and isinstance(segment.get("accounts"), str):
            accounts = Path(segment["accounts"])
            if not accounts.is_absolute():
                segment["accounts"] = str((folder / accounts).resolve())
