"""cssim: simulate, calibrate and track proactive customer-success outreach programs.

The public API, grouped by what it is for:

- scenarios: ``load_scenario``, ``scenario_from_dict``, ``with_overrides``,
  ``Scenario``;
- simulation: ``simulate`` (one replication), ``run_replications`` (many, in
  parallel), ``RunResult``;
- measurement: ``compute_kpis``, ``summarise``, ``KPI_LABELS``,
  ``empty_snapshots``;
- real logs: ``load_mapping``, ``read_log``, ``read_snapshots``,
  ``select_log``;
- calibration: ``calibrate_to_scenario``;
- forecasts against actuals: ``forecast_given_outreach``, ``compare_kpis``,
  ``coverage``;
- errors and warnings: ``ScenarioError`` and the ``CssimWarning`` categories.

Names are imported when first used, so the command line starts quickly.
"""

from importlib import import_module

_HOMES = {
    "CapacityWarning": "cssim.errors",
    "CoverageWarning": "cssim.errors",
    "CssimError": "cssim.errors",
    "CssimWarning": "cssim.errors",
    "RateConversionWarning": "cssim.errors",
    "ScenarioError": "cssim.errors",
    "SparseCellWarning": "cssim.errors",
    "Scenario": "cssim.scenario",
    "load_scenario": "cssim.scenario_file",
    "scenario_from_dict": "cssim.scenario_file",
    "with_overrides": "cssim.scenario_file",
    "simulate": "cssim.engine",
    "RunResult": "cssim.replications",
    "run_replications": "cssim.replications",
    "KPI_LABELS": "cssim.kpi",
    "compute_kpis": "cssim.kpi",
    "summarise": "cssim.kpi",
    "empty_snapshots": "cssim.engagement_log",
    "load_mapping": "cssim.mapping",
    "read_log": "cssim.log_reader",
    "read_snapshots": "cssim.log_reader",
    "select_log": "cssim.log_selection",
    "calibrate_to_scenario": "cssim.calibration",
    "forecast_given_outreach": "cssim.replay",
    "compare_kpis": "cssim.compare",
    "coverage": "cssim.compare",
}
_RENAMED = {"select_log": "select", "forecast_given_outreach": "replay"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    """Import a public name from its module on first use."""
    if name not in _HOMES:
        raise AttributeError(f"module 'cssim' has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), _RENAMED.get(name, name))
    globals()[name] = value
    return value
