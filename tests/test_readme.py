"""The README stays true to the code it documents."""

from __future__ import annotations

from pathlib import Path

from cssim.scenario_reference import reference_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_readme_scenario_reference_matches_the_schema():
    """Every field of the schema appears in the README exactly as generated."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    assert reference_markdown() in readme


def test_readme_mapping_vocabulary_matches_the_mapping_schema():
    """The mapping vocabulary in the README is the one the code documents."""
    from cssim.mapping import mapping_reference

    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    assert mapping_reference() in readme


def test_ci_runs_the_readme_test_command():
    """.ci/run runs the same test command the README gives a new user."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = ci.strip().splitlines()[-1].strip()

    assert f"    {command}\n" in readme
