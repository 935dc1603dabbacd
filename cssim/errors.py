"""Error and warning categories, so callers can catch or filter them by kind."""

from __future__ import annotations


class CssimError(Exception):
    """Base class of every error cssim raises on purpose."""


class FileProblems(CssimError, ValueError):
    """An input file is unreadable or breaks its schema's rules.

    ``problems`` holds one line per problem, each naming the field path, the
    value received and what was expected.
    """

    kind = "file"

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{path}: invalid {self.kind}\n{lines}")

    def __reduce__(self):
        """Rebuild from (path, problems), so the error crosses process boundaries."""
        return (type(self), (self.path, self.problems))


class ScenarioError(FileProblems):
    """A scenario file is unreadable or breaks a rule of the schema."""

    kind = "scenario"


class MappingError(FileProblems):
    """A mapping file is unreadable or breaks a rule of the mapping vocabulary."""

    kind = "mapping"


class CssimWarning(UserWarning):
    """Base category of every warning cssim issues."""


class CoverageWarning(CssimWarning):
    """A segment the policy targets has no rep who covers it."""


class CapacityWarning(CssimWarning):
    """Demand is above capacity: the backlog keeps growing over the horizon."""


class RateConversionWarning(CssimWarning):
    """A per-period transition matrix has no exact daily root; it was projected."""


class SparseCellWarning(CssimWarning):
    """A calibration cell has too little data to estimate on its own."""
