"""The operational shell holds together: docker-compose.yml (+ the LocalExecutor override), the shared
Airflow settings (deploy/airflow/airflow.env, pools.json), .env.example, Dockerfile, Makefile, .ci/run.

No Docker daemon is available to tests or CI, so the compose stack is checked as data: the services
and healthchecks it needs, the pools and buckets it creates, and that every variable it sets or
references exists where it must (the code's env_vars() table: general settings and each source's own, .env.example) with no secret written in.
`make stack-test` runs the same settings on real components (scripts/stack_test.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from filinglake.sources import env_vars

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict] = COMPOSE["services"]
LOCAL_OVERRIDE = yaml.safe_load((ROOT / "docker-compose.local.yml").read_text())
SHARED_ENV_FILE = "deploy/airflow/airflow.env"

LONG_RUNNING = [
    "postgres",
    "redis",
    "minio",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
]
ONE_SHOT = ["createbuckets", "airflow-init"]
AIRFLOW_SERVICES = [name for name in SERVICES if name.startswith("airflow-")]
POOLS_FILE = ROOT / "deploy" / "airflow" / "pools.json"
EXPECTED_POOLS = {name: pool["slots"] for name, pool in json.loads(POOLS_FILE.read_text()).items()}

# ${VAR}, ${VAR:-default}, ${VAR:?message}; `$${VAR}` is compose's escape for the container's shell.
COMPOSE_REF = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}")
ONLY_REFS = re.compile(r"^(\$\{[A-Za-z_][A-Za-z0-9_]*[^}]*\})+$")
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|_KEY|TOKEN)$")
CREDENTIAL_NAME = re.compile(r"(PASSWORD|SECRET|_KEY|TOKEN|_KEY_ID)$")
POOL_SET = re.compile(r"airflow pools set\s+(\w+)\s+(\d+)")


def _shared_env() -> dict[str, str]:
    """deploy/airflow/airflow.env, read as compose's env_file reads it."""
    values = {}
    for line in (ROOT / SHARED_ENV_FILE).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{SHARED_ENV_FILE}: not KEY=VALUE: {line!r}"
            values[key] = value
    return values


def _effective_env(service: str) -> dict[str, str]:
    """What a container gets: its env_file, overridden by its environment block."""
    files = SERVICES[service].get("env_file") or []
    return {**(_shared_env() if SHARED_ENV_FILE in files else {}), **_env(service)}


def _env(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    assert isinstance(env, dict), f"{service}: write environment as a mapping"
    return {key: str(value) for key, value in env.items()}


def _command_text(service: str) -> str:
    command = SERVICES[service].get("command", "")
    return command if isinstance(command, str) else "\n".join(map(str, command))


def _strings(node: object) -> list[str]:
    """Every string value in the parsed compose file (comments are not part of it)."""
    if isinstance(node, dict):
        return [text for value in node.values() for text in _strings(value)]
    if isinstance(node, list):
        return [text for value in node for text in _strings(value)]
    return [node] if isinstance(node, str) else []


def _interpolate(text: str) -> str:
    """What compose would make of ``text`` with every variable set to "x"."""
    return COMPOSE_REF.sub("x", text)


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _code_env_names() -> set[str]:
    # env_vars() rows may name two variables at once: "AWS_REGION / AWS_DEFAULT_REGION".
    return {name.strip() for row in env_vars() for name in row[0].split("/")}


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-zA-Z0-9_-]*):(?!=)", text, flags=re.MULTILINE))


# --- services, health and start order ------------------------------------------------------------


def test_required_services_exist():
    missing = set(LONG_RUNNING + ONE_SHOT) - set(SERVICES)
    assert not missing, f"docker-compose.yml lacks services: {sorted(missing)}"


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_long_running_service_has_a_healthcheck(service):
    check = SERVICES[service].get("healthcheck") or {}
    assert check.get("test"), f"{service} has no healthcheck"
    assert not check.get("disable"), f"{service} disables its healthcheck"
    assert SERVICES[service].get("restart") in ("always", "unless-stopped")


def test_airflow_healthchecks_probe_each_component():
    def probe(service: str) -> str:
        test = SERVICES[service]["healthcheck"]["test"]
        return test if isinstance(test, str) else " ".join(test)

    assert "localhost:8080/api/v2/monitor/health" in probe("airflow-apiserver")
    assert "localhost:8974/health" in probe("airflow-scheduler")
    # The scheduler serves :8974/health only when asked to.
    assert _effective_env("airflow-scheduler")["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"
    assert "--job-type DagProcessorJob" in probe("airflow-dag-processor")
    assert "--job-type TriggererJob" in probe("airflow-triggerer")
    assert "inspect ping" in probe("airflow-worker") and "celery@$${HOSTNAME}" in probe("airflow-worker")
    assert "redis-cli" in probe("redis") and "ping" in probe("redis")


def test_dependencies_wait_for_health_or_completion():
    for service, spec in SERVICES.items():
        depends_on = spec.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{service}: depends_on needs conditions, not a list"
        for dependency, rule in depends_on.items():
            assert dependency in SERVICES, f"{service} depends on unknown service {dependency}"
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert rule.get("condition") == expected, f"{service} -> {dependency}"
    for service in AIRFLOW_SERVICES:
        if service == "airflow-init":
            continue
        depends_on = SERVICES[service]["depends_on"]
        assert {"postgres", "redis", "airflow-init", "createbuckets"} <= set(depends_on), service
    assert {"postgres", "redis", "createbuckets"} <= set(SERVICES["airflow-init"]["depends_on"])


def test_airflow_components_share_one_configuration():
    # The JWT secret (and the rest) "must be consistent across all components".
    reference = _effective_env("airflow-apiserver")
    for service in AIRFLOW_SERVICES:
        assert SERVICES[service]["env_file"] == [SHARED_ENV_FILE], service
        env = _effective_env(service)
        env.pop("DUMB_INIT_SETSID", None)  # the worker's warm shutdown under dumb-init
        assert env == reference, f"{service} environment differs from airflow-apiserver's"
        assert SERVICES[service]["build"]["dockerfile"] == "Dockerfile"
    assert reference["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert reference["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert reference["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert urlsplit(_interpolate(reference["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])).hostname == "postgres"
    assert reference["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert SERVICES["postgres"]["image"].startswith("postgres:16")


def test_celery_uses_redis_and_postgres_with_psycopg2():
    env = _effective_env("airflow-worker")
    assert urlsplit(_interpolate(env["AIRFLOW__CELERY__BROKER_URL"])).hostname == "redis"
    backend = env["AIRFLOW__CELERY__RESULT_BACKEND"]
    # The locked SQLAlchemy picks psycopg 3 for a bare postgresql:// (not installed): spell the driver.
    assert backend.startswith("db+postgresql+psycopg2://")
    assert urlsplit(_interpolate(backend.removeprefix("db+"))).hostname == "postgres"
    assert SERVICES["redis"]["image"].startswith("redis:7.2")
    assert "--requirepass" in SERVICES["redis"]["command"]


def test_worker_scales():
    worker = SERVICES["airflow-worker"]
    assert _command_text("airflow-worker") == "celery worker"
    # --scale airflow-worker=N needs no fixed name and no published port
    assert "container_name" not in worker and "ports" not in worker and "hostname" not in worker


def test_lost_worker_recovery_and_logging_settings():
    env = _shared_env()
    # a lost worker's running task is failed and retried within a couple of minutes...
    assert int(env["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"]) <= 120
    assert float(env["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL"]) <= 30
    # ...while Redis never re-delivers a message whose task is still running (longest run timeout: 3 h)
    assert int(env["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT"]) >= 3 * 3600
    assert env["AIRFLOW__CELERY__TASK_ACKS_LATE"] == "True"
    assert env["AIRFLOW__LOGGING__REMOTE_LOGGING"] == "True"
    assert env["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"].startswith("s3://")
    assert env["AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID"] == _effective_env("airflow-worker")["FILINGLAKE_AWS_CONN_ID"]
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")


def test_shared_env_file_holds_no_secret_and_no_interpolation():
    for key, value in _shared_env().items():
        assert not CREDENTIAL_NAME.search(key), f"{SHARED_ENV_FILE}: {key} is a secret: it belongs in .env"
        assert "$" not in value and not value.startswith(("'", '"')), f"{SHARED_ENV_FILE}: {key}: plain values only"
        assert "://" not in value or urlsplit(value).password is None, key


def test_local_override_switches_to_the_local_executor():
    services = LOCAL_OVERRIDE["services"]
    assert set(services) <= set(SERVICES)
    for service in AIRFLOW_SERVICES:
        assert services[service]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", service
    assert services["airflow-worker"]["deploy"]["replicas"] == 0


def test_project_code_is_mounted_and_importable():
    mounts = {volume.split(":")[1] for volume in SERVICES["airflow-scheduler"]["volumes"]}
    assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/include"} <= mounts
    assert "/opt/airflow/include" in _env("airflow-scheduler")["PYTHONPATH"].split(":")


# --- what the one-shot jobs create ---------------------------------------------------------------


def test_pools_file_has_the_three_pools():
    pools = json.loads(POOLS_FILE.read_text())
    assert {name: spec["slots"] for name, spec in pools.items()} == EXPECTED_POOLS
    assert all(spec.get("description") for spec in pools.values())


def test_init_migrates_and_imports_the_pools_file():
    command = _command_text("airflow-init")
    assert "airflow db migrate" in command
    mounts = dict(volume.split(":")[:2] for volume in SERVICES["airflow-init"]["volumes"])
    container_dir = mounts["./deploy/airflow"]
    assert f"airflow pools import {container_dir}/pools.json" in command
    assert not POOL_SET.search(command), "pools come from pools.json only"


def test_makefile_imports_the_declared_pools():
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(r"^POOLS_FILE\s*:?=\s*(.+)$", makefile, flags=re.MULTILINE)
    assert match, "Makefile has no POOLS_FILE line"
    assert Path(match.group(1).strip().replace("$(CURDIR)", str(ROOT))) == POOLS_FILE
    assert 'airflow pools import "$(POOLS_FILE)"' in makefile


def test_createbuckets_makes_the_buckets_of_data_and_logs():
    storage = urlsplit(_env("airflow-scheduler")["FILINGLAKE_STORAGE"])
    logs = urlsplit(_shared_env()["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"])
    assert storage.scheme == logs.scheme == "s3"
    assert f"mc mb --ignore-existing local/{storage.netloc}" in _command_text("createbuckets")
    assert f"mc mb --ignore-existing local/{logs.netloc}" in _command_text("createbuckets")
    assert SERVICES["minio"]["image"].startswith("quay.io/minio/minio:RELEASE.")
    assert "minio" in SERVICES["createbuckets"]["image"]


def test_aws_connection_points_at_the_object_store():
    env = _env("airflow-scheduler")
    connection = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert connection["conn_type"] == "aws"
    assert connection["extra"]["endpoint_url"] == env["FILINGLAKE_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert ONLY_REFS.match(connection["login"]) and ONLY_REFS.match(connection["password"])


# --- variables and secrets -----------------------------------------------------------------------


def test_every_filinglake_variable_is_one_the_code_reads():
    known = _code_env_names()
    set_here = {key for service in SERVICES for key in _effective_env(service) if key.startswith("FILINGLAKE_")}
    assert set_here, "compose sets no FILINGLAKE_* variable"
    assert set_here <= known, f"not in filinglake.sources.env_vars(): {sorted(set_here - known)}"


def test_every_referenced_variable_is_in_env_example():
    values = _strings(COMPOSE)
    referenced = {name for value in values for name in COMPOSE_REF.findall(value)}
    assert referenced, "compose references no ${VAR}"
    missing = referenced - set(_env_example())
    assert not missing, f".env.example lacks: {sorted(missing)}"
    # A bare $VAR would be interpolated too; this file uses ${VAR} or the $$ escape only.
    assert not [value for value in values if re.search(r"(?<!\$)\$(?![{$])", value)]


def test_no_secret_is_written_in_compose():
    for service in SERVICES:
        for key, value in _env(service).items():
            if CREDENTIAL_NAME.search(key):
                assert ONLY_REFS.match(value), f"{service}: {key} must come from .env, not be written here"
            for url in re.findall(r"\w+://[^\s\"']+", value):
                password = urlsplit(url).password
                if password is not None:
                    assert ONLY_REFS.match(password), f"{service}: password written into {key}"


def test_env_example_has_placeholders_only_and_env_is_ignored():
    secrets = {key: value for key, value in _env_example().items() if SECRET_NAME.search(key)}
    assert {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "FERNET_KEY", "JWT_SECRET", "AWS_SECRET_ACCESS_KEY"} <= set(secrets)
    assert all(value == "" for value in secrets.values()), f"values in .env.example: {secrets}"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored or "/.env" in ignored


def test_image_is_built_from_the_lock_without_secrets():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM \$\{AIRFLOW_IMAGE\}|^FROM apache/airflow:3\.3\.2", dockerfile, re.MULTILINE)
    assert re.search(r"AIRFLOW_IMAGE=apache/airflow:3\.3\.2-python3\.1[12]\b", dockerfile)
    assert "uv export --frozen" in dockerfile and "uv.lock" in dockerfile
    # .dockerignore is an allowlist: exclude everything, then let code and lock back in (never .env).
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    patterns = [line for line in patterns if line and not line.startswith("#")]
    assert patterns[0] == "*"
    let_in = {line[1:].rstrip("/") for line in patterns if line.startswith("!")}
    assert let_in == {"pyproject.toml", "uv.lock", "README.md", "include", "dags", "plugins"}


# --- Makefile and CI entry point -----------------------------------------------------------------


def test_makefile_has_the_documented_targets():
    targets = _make_targets()
    wanted = {"help", "install", "test", "demo", "bench", "airflow", "lint", "clean", "stack-test", "up", "down"}
    assert wanted <= targets, f"Makefile lacks: {sorted(wanted - targets)}"
    text = (ROOT / "Makefile").read_text()
    assert re.search(r"^\.DEFAULT_GOAL\s*:=\s*help$", text, re.MULTILINE)
    assert "sync --frozen" in text


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
def test_make_help_lists_targets_and_recipes_set_up_airflow():
    shown = subprocess.run(["make", "-s", "-C", str(ROOT), "help"], capture_output=True, text=True, check=True)
    for target in ("install", "test", "demo", "bench", "airflow", "lint", "clean", "stack-test", "up", "down"):
        assert re.search(rf"^\s+{target}\s", shown.stdout, re.MULTILINE), f"`make help` omits {target}"

    # -n prints the recipes without running them (install's included when the stamp is stale).
    planned = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "test", "airflow"], capture_output=True, text=True, check=True
    ).stdout
    pytest_line = next(line for line in planned.splitlines() if ".venv/bin/pytest -q" in line)
    assert "AIRFLOW__CORE__LOAD_EXAMPLES=False" in pytest_line
    assert f'AIRFLOW_HOME="{ROOT}/.airflow-test"' in pytest_line
    standalone = next(line for line in planned.splitlines() if "scripts/airflow_standalone.py" in line)
    assert f'PATH="{ROOT}/.venv/bin:' in standalone
    assert f'AIRFLOW__CORE__DAGS_FOLDER="{ROOT}/dags"' in standalone
    assert "AIRFLOW__CORE__PARALLELISM=4" in standalone


def test_ci_run_is_an_executable_bash_script_that_runs_make_test():
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK), ".ci/run is not executable"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash") or text.startswith("#!/bin/bash")
    assert "set -euo pipefail" in text
    assert re.search(r"^make test$", text, re.MULTILINE)
    assert "docker" not in text
    subprocess.run(["bash", "-n", str(script)], check=True)
