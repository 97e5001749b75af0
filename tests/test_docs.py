"""The README's configuration table and the settings module describe the same variables."""

from __future__ import annotations

import re
from pathlib import Path

from filinglake.schema import FIELDS
from filinglake.sources import env_vars

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```", 2)[1]
    assert "make demo" in first_block and "make test" in first_block


def test_every_setting_is_documented() -> None:
    for names, _default, _meaning in env_vars():
        for name in re.findall(r"[A-Z][A-Z0-9_]+", names):
            assert f"`{name}`" in README, f"{name} missing from the README configuration table"


def test_each_sources_own_variables_are_in_the_table_with_their_defaults() -> None:
    from filinglake.sources import all_sources

    for source in all_sources():
        for setting in source.declared_settings:
            row = f"| `{setting.env}` | `{setting.default_text()}` |"
            assert row in README, f"{source.name}: README configuration table lacks {row}"


def test_every_documented_filinglake_variable_exists() -> None:
    known = {n for names, *_ in env_vars() for n in re.findall(r"[A-Z][A-Z0-9_]+", names)} | {"FILINGLAKE_FIXTURES"}
    documented = set(re.findall(r"`(FILINGLAKE_[A-Z0-9_]+)`", README))
    assert documented <= known, documented - known


def test_schema_table_matches_schema_module() -> None:
    for name, *_ in FIELDS:
        assert f"| {name} |" in README


def test_every_variable_the_settings_read_is_documented() -> None:
    import filinglake.config as config

    read = set(re.findall(r'_(?:env|float|int)\("([A-Z][A-Z0-9_]+)"', Path(config.__file__).read_text()))
    assert {"FILINGLAKE_STORAGE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"} <= read  # the pattern finds them
    known = {n for names, *_ in env_vars() for n in re.findall(r"[A-Z][A-Z0-9_]+", names)}
    undocumented = {name for name in read - known if f"`{name}`" not in README}
    assert undocumented == set(), f"read by filinglake.config but not in env_vars() or the README: {undocumented}"
