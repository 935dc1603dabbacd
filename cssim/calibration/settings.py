"""Levels shared by the calibration's estimates: interval width and fit test."""

from __future__ import annotations

INTERVAL_LEVEL = 0.90
GOOD_FIT_P_VALUE = 0.01
"""A fit whose Kolmogorov-Smirnov p-value is below this is flagged as poor."""
