"""`make airflow`: loopback only, DAGs paused and said so, Ctrl-C stops it.

The recipe is read with `make -n`; the configuration the standalone's components read is asked of
Airflow under the recipe's own environment. (A real start takes minutes on a shared 2-core machine,
so Ctrl-C is covered by the recipe's shape: `exec` leaves `airflow standalone` as make's only child.)
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def recipe(home: Path, port: int) -> list[str]:
    out = subprocess.run(["make", "-s", "-n", "-C", str(PROJECT_ROOT), "airflow", f"LOCAL_HOME={home}",
                          f"AIRFLOW_PORT={port}"], capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.splitlines()


def test_recipe_binds_loopback_and_warns_before_starting(tmp_path: Path) -> None:
    lines = recipe(tmp_path, 18080)
    start = lines[-1]
    assert start.split()[-2:] == [f"{PROJECT_ROOT}/.venv/bin/airflow", "standalone"] and " exec " in start
    assert "AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=18080" in start
    assert "AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:18080/execution/" in start
    assert "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True" in start
    assert f'AIRFLOW_HOME="{tmp_path}"' in start  # never the developer's ~/airflow
    said = "\n".join(line for line in lines if line.startswith("echo"))
    assert "http://127.0.0.1:18080" in said
    assert "starts PAUSED" in said and "REAL SEC, CNINFO and HKEXnews" in said
    assert "Ctrl-C stops" in said
    # Ctrl-C: the terminal sends SIGINT to the whole group; make waits for its one child, and `exec`
    # makes that child `airflow standalone` itself, which stops its components and waits for them.
    assert start.count(" exec ") == 1


def test_standalone_components_read_the_loopback_config(tmp_path: Path) -> None:
    start = recipe(tmp_path, 18081)[-1]
    # the same environment, asking Airflow's configuration instead of starting the standalone
    ask = start.replace(" exec ", " ").replace(f"{PROJECT_ROOT}/.venv/bin/airflow standalone",
                                                  f"{PROJECT_ROOT}/.venv/bin/python -c {shlex.quote(PRINT_CONFIG)}")
    out = subprocess.run(["bash", "-c", ask], capture_output=True, text=True, timeout=180, cwd=PROJECT_ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1].split() == [
        "127.0.0.1", "18081", "http://127.0.0.1:18081/execution/", "True", "False", f"{tmp_path}/airflow.db"]


PRINT_CONFIG = """
from airflow.configuration import conf
print(conf.get("api", "host"), conf.get("api", "port"), conf.get("core", "execution_api_server_url"),
      conf.get("core", "dags_are_paused_at_creation"), conf.get("core", "load_examples"),
      conf.get("database", "sql_alchemy_conn").removeprefix("sqlite:///"))
"""
