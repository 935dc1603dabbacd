"""A scenario dict written as readable YAML under a comment header."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml


def write_scenario_yaml(
    scenario: dict[str, Any], path: str | Path, header: str = ""
) -> Path:
    """Write a scenario dict as YAML, with ``header`` as comment lines on top."""
    path = Path(path)
    comment = "".join(
        f"# {line}".rstrip() + "\n" for line in header.splitlines()
    )
    plain = _plain(scenario)
    sources = plain.pop("sources", None)
    body = yaml.safe_dump(
        plain, sort_keys=False, allow_unicode=True, width=80,
        default_flow_style=None,
    )
    if sources:
        body += yaml.safe_dump(
            {"sources": sources}, sort_keys=False, allow_unicode=True, width=80,
            default_flow_style=False,
        )
    sections = [
        ("\n" + line) if index and line[:1].isalpha() else line
        for index, line in enumerate(body.splitlines())
    ]
    text = comment + ("\n" if comment else "") + "\n".join(sections) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def _plain(value: Any) -> Any:
    """Convert numpy scalars and containers to plain YAML-safe Python values."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
