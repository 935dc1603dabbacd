"""cssim: simulate, calibrate and track proactive customer-success outreach programs.

The public API, grouped by what it is for:

- scenarios: ``load_scenario``, ``scenario_from_dict``, ``with_overrides``,
  ``Scenario``;
- simulation: ``simulate`` (one replication), ``run_replications`` (many, in
  parallel), ``RunResult``;
- measurement: ``compute_kpis``, ``summarise``, ``KPI_LABELS``;
- errors and warnings: ``ScenarioError`` and the ``CssimWarning`` categories.
"""

from cssim.engine import simulate
from cssim.errors import (
    CapacityWarning,
    CoverageWarning,
    CssimError,
    CssimWarning,
    RateConversionWarning,
    ScenarioError,
    SparseCellWarning,
)
from cssim.kpi import KPI_LABELS, compute_kpis, summarise
from cssim.replications import RunResult, run_replications
from cssim.scenario import Scenario
from cssim.scenario_file import load_scenario, scenario_from_dict, with_overrides

__all__ = [
    "CapacityWarning",
    "CoverageWarning",
    "CssimError",
    "CssimWarning",
    "KPI_LABELS",
    "RateConversionWarning",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "SparseCellWarning",
    "compute_kpis",
    "load_scenario",
    "run_replications",
    "scenario_from_dict",
    "simulate",
    "summarise",
    "with_overrides",
]
