"""Numbers and mappings in the plain form a scenario file holds."""

from __future__ import annotations

from typing import Any

SIGNIFICANT_DIGITS = 5


def rounded(value: float) -> float | int:
    """A plain number with a few significant digits; whole numbers as int."""
    value = float(value)
    if value.is_integer():
        return int(value)
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def leading(mapping: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The mapping with ``keys`` (those present) moved to the front, for reading."""
    first = {key: mapping[key] for key in keys if key in mapping}
    return first | {key: value for key, value in mapping.items() if key not in first}
