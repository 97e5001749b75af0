"""`make airflow`: loopback only, DAGs paused and said so, Ctrl-C stops it.

The recipe is read with `make -n`; the configuration the standalone's components read is asked of
Airflow under the recipe's own environment; and a real `make airflow` is started, reached on 127.0.0.1
and stopped with the group SIGINT a terminal's Ctrl-C sends.
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
    assert start.split()[-3:] == [f"{PROJECT_ROOT}/.venv/bin/python", "scripts/airflow_standalone.py",
                                  f"{PROJECT_ROOT}/.venv/bin/airflow"] and " exec " in start
    assert "AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=18080" in start
    assert "AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:18080/execution/" in start
    assert "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True" in start
    assert f'AIRFLOW_HOME="{tmp_path}"' in start  # never the developer's ~/airflow
    said = "\n".join(line for line in lines if line.startswith("echo"))
    assert "http://127.0.0.1:18080" in said
    assert "starts PAUSED" in said and "REAL SEC, CNINFO and HKEXnews" in said
    assert "Ctrl-C stops" in said
    # Ctrl-C: the terminal sends SIGINT to the whole group; `exec` makes the wrapper make's one child, and
    # the wrapper runs standalone in a session of its own (see scripts/airflow_standalone.py).
    assert start.count(" exec ") == 1


def test_standalone_components_read_the_loopback_config(tmp_path: Path) -> None:
    start = recipe(tmp_path, 18081)[-1]
    # the same environment, asking Airflow's configuration instead of starting the standalone
    launch = f"{PROJECT_ROOT}/.venv/bin/python scripts/airflow_standalone.py {PROJECT_ROOT}/.venv/bin/airflow"
    assert launch in start
    ask = start.replace(" exec ", " ").replace(launch, f"{PROJECT_ROOT}/.venv/bin/python -c {shlex.quote(PRINT_CONFIG)}")
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


def _live(pid_dir: Path) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, or None for a zombie or a vanished process."""
    try:
        fields = (pid_dir / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields


def _processes_of(home: Path, sessions: set[int] = frozenset()) -> list[int]:
    """Live processes started for ``home``: those whose environment has ``AIRFLOW_HOME=<home>`` (make, the
    wrapper, standalone, the components), and every process of ``sessions`` — the LocalExecutor's workers
    rewrite their environment with their process title, but stay in standalone's session."""
    marker = f"AIRFLOW_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or (fields := _live(entry)) is None:
            continue
        try:
            mine = marker in (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if mine or int(fields[3]) in sessions:
            found.append(int(entry.name))
    return found


def _sessions(pids: list[int]) -> set[int]:
    return {int(fields[3]) for pid in pids if (fields := _live(Path(f"/proc/{pid}"))) is not None}


def test_ctrl_c_stops_make_airflow_and_every_process_it_started(tmp_path: Path) -> None:
    """A real `make airflow`: wait until the UI answers on 127.0.0.1, then SIGINT the foreground group as a
    terminal's Ctrl-C does; make exits and no process it started is left."""
    import os
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = tmp_path / "home"
    sessions: set[int] = set()
    log = (tmp_path / "airflow.log").open("wb")
    proc = subprocess.Popen(["make", "-s", "-C", str(PROJECT_ROOT), "airflow", f"LOCAL_HOME={home}",
                             f"AIRFLOW_PORT={port}"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 600  # a cold start (db migrate, four components) on 2 busy cores
        answered = False
        while time.monotonic() < deadline and proc.poll() is None and not answered:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5) as reply:
                    answered = reply.status == 200
            except OSError:
                time.sleep(3)
        assert answered, (tmp_path / "airflow.log").read_text(errors="replace")[-3000:]

        started = _processes_of(home)
        sessions = _sessions(started)
        assert len(_processes_of(home, sessions)) > len(started) > 5  # the workers are seen through the session
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)
        stop_by = time.monotonic() + 60  # the wrapper gives the components 45 s, then kills what is left
        while _processes_of(home, sessions) and time.monotonic() < stop_by:
            time.sleep(1)
        assert _processes_of(home, sessions) == []
    finally:
        for pid in _processes_of(home, sessions):
            os.kill(pid, signal.SIGKILL)  # never leave a component behind, even when the test fails
        if proc.poll() is None:
            proc.kill()
        log.close()
