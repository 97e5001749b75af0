"""The stack test's tools, checked quickly: the replay server script and the shared settings file reader.

The stack test itself (scripts/stack_test.py, minutes of real servers) runs with `make stack-test` only.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_replay_server_serves_every_source_and_names_its_variables(fixtures_dir, tmp_path):
    env_file = tmp_path / "replay.env"
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "replay_server.py"), "--port", "0",
                             "--fixtures", str(fixtures_dir), "--env-file", str(env_file),
                             "--stall", "/Archives/edgar/daily-index/2018/QTR4/master.20181231.idx=1.5"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not env_file.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert env_file.exists(), proc.stderr.read().decode() if proc.poll() is not None else "no env file"
        env = dict(line.split("=", 1) for line in env_file.read_text().split())
        assert {"FILINGLAKE_SEC_BASE_URL", "FILINGLAKE_CNINFO_BASE_URL", "FILINGLAKE_HKEX_BASE_URL"} <= set(env)
        assert all(value.startswith("http://127.0.0.1:") for key, value in env.items() if key.endswith("_URL"))
        daily = env["FILINGLAKE_SEC_BASE_URL"] + "/daily-index/2018/QTR4/master.20181231.idx"
        started = time.monotonic()
        first = httpx.get(daily, timeout=30)
        held = time.monotonic() - started
        started = time.monotonic()
        second = httpx.get(daily, timeout=30)
        assert first.status_code == second.status_code == 200 and first.content == second.content
        assert held >= 1.4 and time.monotonic() - started < 1.0, "only the first request is held"
        assert httpx.get(env["FILINGLAKE_SEC_BASE_URL"] + "/no/such/file", timeout=10).status_code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_stack_test_reads_the_shared_settings_as_compose_does():
    stack_test = _load("stack_test")
    shared = stack_test.read_env_file(ROOT / "deploy" / "airflow" / "airflow.env")
    assert shared["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert all(key.startswith("AIRFLOW__") for key in shared)
    # the partitions it compares are the fixture partitions of every source
    assert {source for source, _ in stack_test.PARTITIONS} == {"sec_edgar", "cninfo", "hkex"}
