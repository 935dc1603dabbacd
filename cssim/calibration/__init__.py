"""Calibration from engagement logs and tier snapshots into a scenario's numbers."""

from cssim.calibration.contacts import CONTACT_QUANTILES
from cssim.calibration.description import describe_calibration
from cssim.calibration.durations import (
    DURATION_QUANTITIES,
    HANDLING_FAMILIES,
    MIN_DURATION_VALUES,
    fit_durations,
    fit_handling_minutes,
)
from cssim.calibration.fatigue import WINDOW_DAYS
from cssim.calibration.log_checks import EngagementLogError, LogKind, detect_log_kind
from cssim.calibration.pipeline import calibrate, calibrate_to_scenario
from cssim.calibration.policy_writer import (
    ATTEMPT_SUFFIX,
    ATTEMPTS_QUANTILE,
    DEFAULT_SPACING_DAYS,
)
from cssim.calibration.response import (
    DEFAULT_MIN_TOUCHES,
    MIN_PRIOR_CELLS,
    MIN_PRIOR_STRENGTH,
    UNIFORM_PRIOR,
    BetaPrior,
    beta_posterior,
    fit_beta_prior,
)
from cssim.calibration.result import CalibrationResult
from cssim.calibration.scenario_form import SIGNIFICANT_DIGITS
from cssim.calibration.scenario_writer import (
    DEFAULT_BOOK_CUSTOMERS,
    default_base_scenario,
    scenario_from_calibration,
)
from cssim.calibration.settings import GOOD_FIT_P_VALUE, INTERVAL_LEVEL
from cssim.calibration.transitions import (
    DEFAULT_CYCLE_DAYS,
    DEFAULT_MIN_TRANSITIONS,
    EXPANSION_MIN_SHARE,
    SPACING_TOLERANCE,
    TRANSITION_PRIOR_STRENGTH,
    SnapshotError,
    TransitionEstimates,
    estimate_transitions,
)
from cssim.calibration.yaml_writer import write_scenario_yaml

__all__ = [
    "ATTEMPTS_QUANTILE",
    "ATTEMPT_SUFFIX",
    "CONTACT_QUANTILES",
    "DEFAULT_BOOK_CUSTOMERS",
    "DEFAULT_CYCLE_DAYS",
    "DEFAULT_MIN_TOUCHES",
    "DEFAULT_MIN_TRANSITIONS",
    "DEFAULT_SPACING_DAYS",
    "DURATION_QUANTITIES",
    "EXPANSION_MIN_SHARE",
    "GOOD_FIT_P_VALUE",
    "HANDLING_FAMILIES",
    "INTERVAL_LEVEL",
    "MIN_DURATION_VALUES",
    "MIN_PRIOR_CELLS",
    "MIN_PRIOR_STRENGTH",
    "SIGNIFICANT_DIGITS",
    "SPACING_TOLERANCE",
    "TRANSITION_PRIOR_STRENGTH",
    "UNIFORM_PRIOR",
    "WINDOW_DAYS",
    "BetaPrior",
    "CalibrationResult",
    "EngagementLogError",
    "LogKind",
    "SnapshotError",
    "TransitionEstimates",
    "beta_posterior",
    "calibrate",
    "calibrate_to_scenario",
    "default_base_scenario",
    "describe_calibration",
    "detect_log_kind",
    "estimate_transitions",
    "fit_beta_prior",
    "fit_durations",
    "fit_handling_minutes",
    "scenario_from_calibration",
    "write_scenario_yaml",
]
