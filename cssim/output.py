"""Writing a run's output folder: resolved scenario, KPIs, logs and run facts."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from cssim.errors import CssimError
from cssim.scenario import resolve
from cssim.scenario_file import content_hash

if TYPE_CHECKING:
    from cssim.replications import RunResult

logger = logging.getLogger("cssim")

DEFAULT_PARENT = Path("out")
"""Where run folders go when no folder is named."""

SCENARIO_FILE = "scenario.resolved.yaml"
RUN_FILE = "run.json"
TABLE_FILES: dict[str, str] = {
    "kpis": "kpis.parquet",
    "summary": "summary.parquet",
    "log": "engagement_log.parquet",
    "snapshots": "tier_snapshots.parquet",
    "rep_days": "rep_days.parquet",
}
"""RunResult attribute → file name, for every table written as Parquet."""
SUMMARY_CSV = "summary.csv"


class OutputExistsError(CssimError, FileExistsError):
    """The output folder already exists; runs never overwrite one."""


def cssim_version() -> str:
    """The installed cssim version, or "unknown" when running from a bare tree."""
    try:
        return version("cssim")
    except PackageNotFoundError:
        return "unknown"


def default_folder(scenario_name: str, now: dt.datetime | None = None) -> Path:
    """``out/<scenario-name>-<timestamp>``, with a suffix if that name is taken."""
    now = now or dt.datetime.now()
    stem = f"{slug(scenario_name)}-{now:%Y%m%d-%H%M%S}"
    folder = DEFAULT_PARENT / stem
    counter = 2
    while folder.exists():
        folder = DEFAULT_PARENT / f"{stem}-{counter}"
        counter += 1
    return folder


def slug(name: str) -> str:
    """A name made safe for a folder: letters, digits, dots, dashes, underscores."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return cleaned or "scenario"


class OutputNotWritableError(CssimError, PermissionError):
    """The output folder cannot be created where it was asked for."""


def check_free(folder: Path) -> None:
    """Refuse, before any work is done, a folder that exists or cannot be made."""
    if folder.exists():
        raise OutputExistsError(
            f"output folder {str(folder)!r} already exists; choose another with "
            "--output or remove it"
        )
    parent = folder.absolute().parent
    while not parent.exists():
        parent = parent.parent
    try:
        probe = tempfile.mkdtemp(prefix=".cssim-probe-", dir=parent)
        os.rmdir(probe)
    except OSError as error:
        raise OutputNotWritableError(
            f"output folder {str(folder)!r} cannot be created: {str(parent)!r} is "
            f"not a writable folder ({error.strerror}); choose another with --output"
        ) from None


def run_facts(result: RunResult, created: dt.datetime | None = None) -> dict[str, Any]:
    """The small record kept as ``run.json``: what was run, how and when."""
    created = created or dt.datetime.now(dt.timezone.utc)
    return {
        "scenario": result.scenario.name,
        "content_hash": content_hash(result.scenario),
        "seed": int(result.seed),
        "replications": int(result.replications),
        "workers": int(result.workers),
        "horizon_days": int(result.scenario.horizon_days),
        "cssim_version": cssim_version(),
        "created": created.isoformat(timespec="seconds"),
    }


def write_output(
    result: RunResult,
    folder: Path | None = None,
    extra_facts: dict[str, Any] | None = None,
) -> Path:
    """Write every file of a run into ``folder`` and return it.

    The files go to a hidden temporary sibling first, which is renamed into
    place at the end, so a failure never leaves a half-written folder behind.
    An existing folder is never overwritten.
    """
    folder = folder or default_folder(result.scenario.name)
    check_free(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial",
                                    dir=folder.parent))

    try:
        _write_files(result, staging, extra_facts or {})
        check_free(folder)
        os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    logger.info("wrote run output to %s", folder)
    return folder


def _write_files(result: RunResult, staging: Path, extra_facts: dict[str, Any]) -> None:
    """Write the scenario, the tables and run.json into the staging folder."""
    resolved = yaml.safe_dump(resolve(result.scenario), sort_keys=False,
                              allow_unicode=True)
    (staging / SCENARIO_FILE).write_text(resolved, encoding="utf-8")

    for attribute, file_name in TABLE_FILES.items():
        table = getattr(result, attribute)
        table.to_parquet(staging / file_name, index=False)
    result.summary.to_csv(staging / SUMMARY_CSV, index=False)

    facts = run_facts(result) | extra_facts
    facts["files"] = sorted([path.name for path in staging.iterdir()] + [RUN_FILE])
    (staging / RUN_FILE).write_text(json.dumps(facts, indent=2) + "\n",
                                    encoding="utf-8")
