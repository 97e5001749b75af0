"""deploy/: the Helm values for the official Apache Airflow chart carry the same settings as compose.

- every ``FILINGLAKE_*`` variable the library reads (``filinglake.config``) is named in the values;
- every setting of deploy/airflow/airflow.env (what compose and the stack test run) is in ``config:``;
- no secret is written in the values: they come from Kubernetes Secrets.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

import filinglake.config as config
from filinglake.sources import env_vars

ROOT = Path(__file__).resolve().parents[1]
VALUES = yaml.safe_load((ROOT / "deploy" / "helm" / "values.yaml").read_text())
SHARED_ENV = ROOT / "deploy" / "airflow" / "airflow.env"


def _filinglake_settings() -> set[str]:
    """FILINGLAKE_* names in env_vars() and in what config.py reads (the way tests/test_docs.py collects them)."""
    listed = {n for names, *_ in env_vars() for n in re.findall(r"FILINGLAKE_[A-Z0-9_]+", names)}
    read = set(re.findall(r'_(?:env|float|int)\("(FILINGLAKE_[A-Z0-9_]+)"', Path(config.__file__).read_text()))
    return listed | read


def _named_in_values() -> set[str]:
    return {e["name"] for e in VALUES.get("env", [])} | {s["envName"] for s in VALUES.get("secret", [])}


def test_values_name_every_filinglake_setting():
    settings = _filinglake_settings()
    assert len(settings) >= 15  # the pattern finds them
    missing = settings - _named_in_values()
    assert not missing, f"deploy/helm/values.yaml does not set {sorted(missing)}"


def test_values_name_only_settings_the_code_reads():
    extra = {n for n in _named_in_values() if n.startswith("FILINGLAKE_")} - _filinglake_settings()
    assert not extra, f"values.yaml sets variables the code never reads: {sorted(extra)}"


def test_values_carry_the_shared_airflow_settings():
    cfg = VALUES["config"]
    for line in SHARED_ENV.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        _, section, option = key.split("__", 2)
        section, option = section.lower(), option.lower()
        assert section in cfg and option in cfg[section], f"values.yaml config lacks [{section}] {option}"
        assert str(cfg[section][option]) == value, f"[{section}] {option}: {cfg[section][option]!r} != {value!r}"
    assert VALUES["executor"] == cfg["core"]["executor"] == "CeleryExecutor"


def test_values_use_the_project_image_and_external_services():
    assert VALUES["images"]["airflow"]["repository"].endswith("filinglake-airflow")
    assert VALUES["airflowVersion"] == "3.3.2"
    assert VALUES["postgresql"]["enabled"] is False and VALUES["redis"]["enabled"] is False
    for key in ("metadataSecretName", "resultBackendSecretName", "brokerUrlSecretName"):
        assert VALUES["data"][key]


def test_values_hold_no_secret():
    text = (ROOT / "deploy" / "helm" / "values.yaml").read_text()
    assert not re.search(r"://[^/\s:@]+:[^@\s]+@", text.replace("user:pass@", "")), "credentials in a URL"
    for entry in VALUES.get("env", []):
        assert not re.search(r"(PASSWORD|SECRET|TOKEN|_KEY|USER_AGENT)$", entry["name"]), entry["name"]
