"""Stack test: the scale-out Airflow stack on real components, on this machine, offline (`make stack-test`).

Starts, all on 127.0.0.1 in folders of its own:

- PostgreSQL (Debian's ``initdb`` / ``postgres`` in a temporary cluster): metadata DB and Celery result backend;
- Redis (``redis-server``): the Celery broker;
- moto (``moto_server``): S3 for the data (bucket ``filinglake``) and the remote task logs (``filinglake-logs``);
- one replay server for SEC, CNINFO and HKEX (``scripts/replay_server.py``, the captured fixtures);
- Airflow: ``db migrate``, ``pools import deploy/airflow/pools.json``, api-server, scheduler, dag-processor,
  triggerer and two Celery workers (``-H w1`` / ``-H w2``),

all configured from ``deploy/airflow/airflow.env`` — the file docker-compose.yml gives every Airflow service —
plus this machine's hosts, ports and throwaway secrets. Then it

1. checks the API: no import errors, the three pools of pools.json;
2. triggers ingest runs for fixture partitions of every source and ``airflow backfill create`` for
   ``sec_edgar_quarterly`` over 2016Q3 (the replay server holds that quarter's first download 45 s);
3. SIGKILLs the worker running the held ``fetch_index`` and asserts the task's next try runs on the other worker;
4. waits for the asset-triggered ``publish_filings`` to publish everything;
5. asserts the published Delta tables (on moto) hold exactly the keys and counts the library publishes
   from the same partitions (computed meanwhile in a subprocess on a local folder), that tasks ran on both
   workers and that task logs reached S3;
6. takes headless Chromium screenshots of the DAG list, the backfilled grid, the asset graph and a task
   log into ``build/stack/`` and asserts each page rendered.

Every process it starts is stopped by its process group id on the way out, failure or not.
Two settings differ from production, both for this single machine: the Airflow auth manager lets every
visitor in as admin (so Chromium needs no login), and ``[core] max_task_retry_delay`` is 15 s so retries
happen within the test's time (the DAGs' own retry delays are minutes).

    .venv/bin/python scripts/stack_test.py [--keep] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
SHARED_ENV_FILE = PROJECT_ROOT / "deploy" / "airflow" / "airflow.env"
POOLS_FILE = PROJECT_ROOT / "deploy" / "airflow" / "pools.json"
ARTEFACTS = PROJECT_ROOT / "build" / "stack"

DATA_BUCKET = "filinglake"
LOG_BUCKET = "filinglake-logs"
WORKERS = ("w1", "w2")
WORKER_CONCURRENCY = 3
HELD_PATH = "/Archives/edgar/full-index/2016/QTR3/master.gz"
HOLD_SECONDS = 45

#: (dag_id, partition param) of the triggered runs; sec_edgar_quarterly 2016Q3 comes from a backfill
TRIGGERED = [
    ("sec_edgar_daily", "2018-12-31"),
    ("sec_edgar_daily", "2026-01-02"),
    ("cninfo_daily", "2002-04-18"),
    ("cninfo_daily", "2001-08-21"),
    ("hkex_daily", "2025-11-03"),
]
BACKFILL = ("sec_edgar_quarterly", "2016-07-01", "2016-07-03", "2016Q3")
#: every partition landed (hkex lands both language streams of a day)
PARTITIONS = [
    ("sec_edgar", "2018-12-31"), ("sec_edgar", "2026-01-02"), ("sec_edgar", "2016Q3"),
    ("cninfo", "2002-04-18"), ("cninfo", "2001-08-21"), ("hkex", "2025-11-03-en"), ("hkex", "2025-11-03-zh"),
]
DAGS = ["sec_edgar_daily", "sec_edgar_quarterly", "sec_edgar_quarterly_refresh", "cninfo_daily", "hkex_daily",
        "cninfo_intraday", "hkex_intraday",
        "publish_filings", "compact_published_tables"]
INGEST_DAGS = ["sec_edgar_daily", "sec_edgar_quarterly", "cninfo_daily", "hkex_daily"]
UNPAUSE = [*INGEST_DAGS, "publish_filings"]

STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


class StackFailure(AssertionError):
    """An expectation about the stack did not hold."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise StackFailure(message)


def wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - not up yet; keep the last error for the message
            last_error = exc
        time.sleep(interval)
    raise StackFailure(f"timed out after {timeout:.0f} s waiting for {what}" + (f" (last error: {last_error})"
                                                                               if last_error else ""))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (comments and blanks skipped), as compose's env_file reads them."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            if not sep:
                raise ValueError(f"{path}: not KEY=VALUE: {line!r}")
            values[key.strip()] = value.strip()
    return values


# --------------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------------


@dataclass
class Processes:
    """Every process this run started, stopped by process group (each gets its own session)."""

    log_dir: Path
    started: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, **popen)
        log.close()
        self.started.append((name, proc))
        return proc

    def kill(self, name: str) -> None:
        """SIGKILL a process and every descendant, like a lost machine.

        Killing the process group is not enough: Airflow's supervisor puts each task process in a group of
        its own, which would outlive the worker and finish its work unseen.
        """
        proc = self.get(name)
        tree = descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def get(self, name: str) -> subprocess.Popen:
        return next(p for n, p in reversed(self.started) if n == name)  # the latest of that name

    def alive(self, name: str) -> bool:
        return self.get(name).poll() is None

    def stop_all(self) -> None:
        # every descendant, whatever its process group (task processes have their own): killed at the end
        tree = {pid for _name, proc in self.started for pid in descendants(proc.pid)}
        for _name, proc in reversed(self.started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for name, proc in reversed(self.started):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{name} (pid {proc.pid}) ignored SIGTERM: SIGKILL")
            with contextlib.suppress(ProcessLookupError):  # children may outlive their group's leader
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    """Every living descendant of ``pid`` (children first)."""
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def run(argv: list[str], env: dict[str, str], log: Path, timeout: float, **kwargs: Any) -> str:
    """A one-shot command; its output goes to ``log``; fails with the output's tail."""
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, **kwargs)
    with open(log, "a") as out:
        out.write(f"$ {' '.join(argv)}\n{result.stdout}{result.stderr}\n")
    if result.returncode != 0:
        raise StackFailure(f"{' '.join(argv[:4])} exited {result.returncode}: {(result.stdout + result.stderr)[-2000:]}")
    return result.stdout


# --------------------------------------------------------------------------------------------------
# Prerequisites: Debian's PostgreSQL, Redis and Chromium
# --------------------------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def ensure_packages() -> dict[str, Path]:
    """The binaries; `apt-get install` them when missing and we are root (Debian)."""
    missing = []
    if postgres_bin() is None:
        missing.append("postgresql")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if shutil.which("chromium") is None:
        missing.append("chromium")
    if missing:
        check(os.geteuid() == 0 and shutil.which("apt-get") is not None,
              f"missing {', '.join(missing)}: install them (Debian: apt-get install -y {' '.join(missing)})")
        say(f"installing {' '.join(missing)} with apt-get")
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    pg = postgres_bin()
    assert pg is not None
    return {"postgres": pg, "redis": Path(shutil.which("redis-server") or ""),
            "chromium": Path(shutil.which("chromium") or "")}


# --------------------------------------------------------------------------------------------------
# The servers
# --------------------------------------------------------------------------------------------------


@dataclass
class Stack:
    work: Path
    procs: Processes
    env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    api: str = ""
    replay_env: dict[str, str] = field(default_factory=dict)


def start_postgres(stack: Stack, pg_bin: Path, password: str) -> str:
    data = stack.work / "postgres"
    data.mkdir()
    (stack.work / "pgpass").write_text(password + "\n")
    as_user: dict[str, Any] = {}
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root: run them as Debian's postgres user
        shutil.chown(data, "postgres", "postgres")
        shutil.chown(stack.work / "pgpass", "postgres", "postgres")
        as_user = {"user": "postgres", "group": "postgres"}
    run([str(pg_bin / "initdb"), "-D", str(data), "-U", "airflow", "--auth=scram-sha-256",
         f"--pwfile={stack.work / 'pgpass'}", "-E", "UTF8", "--no-instructions"],
        None, stack.procs.log_dir / "initdb.log", 120, **as_user)
    port = stack.ports["postgres"] = free_port()
    stack.procs.start("postgres", [str(pg_bin / "postgres"), "-D", str(data), "-p", str(port), "-k", str(data),
                                   "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200",
                                   "-c", "fsync=off"], **as_user)

    import psycopg2

    def create_db() -> bool:
        con = psycopg2.connect(host="127.0.0.1", port=port, user="airflow", password=password, dbname="postgres")
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute("CREATE DATABASE airflow")
        con.close()
        return True

    wait_for("PostgreSQL", create_db, 60, 0.5)
    return f"postgresql+psycopg2://airflow:{password}@127.0.0.1:{port}/airflow"


def start_redis(stack: Stack, redis_bin: Path, password: str) -> str:
    folder = stack.work / "redis"
    folder.mkdir()
    port = stack.ports["redis"] = free_port()
    stack.procs.start("redis", [str(redis_bin), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                                "--save", "", "--appendonly", "no", "--requirepass", password])
    import redis

    wait_for("Redis", lambda: redis.Redis(host="127.0.0.1", port=port, password=password).ping(), 30, 0.3)
    return f"redis://:{password}@127.0.0.1:{port}/0"


def start_moto(stack: Stack) -> str:
    port = stack.ports["moto"] = free_port()
    stack.procs.start("moto", [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)])
    url = f"http://127.0.0.1:{port}"
    s3 = s3_client(url)
    wait_for("moto", lambda: s3.list_buckets() is not None, 30, 0.3)
    for bucket in (DATA_BUCKET, LOG_BUCKET):
        s3.create_bucket(Bucket=bucket)
    return url


def s3_client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                        region_name="us-east-1")


def start_replay(stack: Stack) -> dict[str, str]:
    env_file = stack.work / "replay.env"
    stack.procs.start("replay", [sys.executable, str(PROJECT_ROOT / "scripts" / "replay_server.py"), "--port", "0",
                                 "--env-file", str(env_file), "--stall", f"{HELD_PATH}={HOLD_SECONDS}"])
    return wait_for("the replay server", lambda: env_file.exists() and read_env_file(env_file), 60, 0.3)


def airflow_environment(stack: Stack, db_url: str, broker_url: str, s3_url: str) -> dict[str, str]:
    """deploy/airflow/airflow.env + what compose adds from .env, with this machine's values."""
    shared = read_env_file(SHARED_ENV_FILE)
    home = stack.work / "airflow-home"
    home.mkdir()
    (stack.work / "pythonpath").mkdir()
    # Two workers on one machine share its hostname; a task records the name of the worker that ran it.
    (stack.work / "pythonpath" / "stack_worker_name.py").write_text(
        '"""Task instance hostname = the stack test worker name (two workers share one machine)."""\n'
        "import os\n\n\ndef worker_name():\n"
        '    return os.environ.get("STACK_WORKER_NAME") or __import__("socket").getfqdn()\n')
    api_port = stack.ports["api"] = free_port()
    from cryptography.fernet import Fernet

    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "FILINGLAKE_", "AWS_"))}
    env.update(shared)
    env.update({
        "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
        "PYTHONPATH": f"{PROJECT_ROOT / 'include'}:{stack.work / 'pythonpath'}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + db_url,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        # This machine only: UI without a login (screenshots), retries within the test's time.
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__MAX_TASK_RETRY_DELAY": "15",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({"conn_type": "aws", "login": "test", "password": "test",
                                                "extra": {"endpoint_url": s3_url, "region_name": "us-east-1"}}),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "FILINGLAKE_STORAGE": f"s3://{DATA_BUCKET}",
        "FILINGLAKE_S3_ENDPOINT_URL": s3_url,
        "FILINGLAKE_AWS_CONN_ID": "aws_default",
        "FILINGLAKE_SEC_USER_AGENT": "filinglake stack-test stack@example.com",
        "FILINGLAKE_HTTP_RETRIES": "2",
    })
    env.update(stack.replay_env)
    # what ran, for a look after the fact (throwaway secrets of a stopped stack)
    (stack.procs.log_dir / "stack.env").write_text(
        "".join(f"{k}={v}\n" for k, v in sorted(env.items()) if k.startswith(("AIRFLOW", "FILINGLAKE_"))))
    return env


def start_airflow(stack: Stack) -> None:
    env, log_dir = stack.env, stack.procs.log_dir
    airflow = str(VENV_BIN / "airflow")
    say("airflow db migrate")
    run([airflow, "db", "migrate"], env, log_dir / "airflow-init.log", 300)
    run([airflow, "pools", "import", str(POOLS_FILE)], env, log_dir / "airflow-init.log", 120)
    stack.procs.start("api-server", [airflow, "api-server", "--host", "127.0.0.1", "--port", str(stack.ports["api"]),
                                     "--workers", "1"], env)
    stack.procs.start("scheduler", [airflow, "scheduler"], env)
    stack.procs.start("dag-processor", [airflow, "dag-processor"], env)
    stack.procs.start("triggerer", [airflow, "triggerer", "--skip-serve-logs"], env)
    for name in WORKERS:
        start_worker(stack, name)
    stack.api = f"http://127.0.0.1:{stack.ports['api']}"


def start_worker(stack: Stack, name: str) -> None:
    """``airflow celery worker -H <name>``; its tasks record ``name`` as their hostname."""
    env = {**stack.env, "STACK_WORKER_NAME": name, "AIRFLOW__CORE__HOSTNAME_CALLABLE": "stack_worker_name.worker_name"}
    stack.procs.start(f"worker-{name}", [str(VENV_BIN / "airflow"), "celery", "worker", "-H", name,
                                         "-c", str(WORKER_CONCURRENCY), "--skip-serve-logs"], env)


# --------------------------------------------------------------------------------------------------
# The REST API
# --------------------------------------------------------------------------------------------------


class Api:
    def __init__(self, base: str):
        import httpx

        self.client = httpx.Client(base_url=base + "/api/v2", timeout=30)

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def send(self, method: str, path: str, body: Any) -> Any:
        response = self.client.request(method, path, json=body)
        if response.status_code >= 400:
            raise StackFailure(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def runs(self, dag_id: str) -> list[dict]:
        return self.get(f"/dags/{dag_id}/dagRuns", limit=100, order_by="run_after")["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict]:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        path += f"/{map_index}/tries" if map_index >= 0 else "/tries"
        return self.get(path)["task_instances"]


def healthy(api: Api) -> bool:
    health = api.get("/monitor/health")
    return all((health.get(part) or {}).get("status") == "healthy"
               for part in ("metadatabase", "scheduler", "triggerer", "dag_processor"))


def celery_workers_ready(stack: Stack) -> bool:
    return all(f"celery@{name} ready" in (stack.procs.log_dir / f"worker-{name}.log").read_text(errors="replace")
               for name in WORKERS)


# --------------------------------------------------------------------------------------------------
# The expected result: the library alone, same partitions, local folder
# --------------------------------------------------------------------------------------------------


def reference_main(out: Path) -> int:
    """(subprocess) Land and publish PARTITIONS with the library on a local folder; write keys and counts."""
    sys.path[:0] = [str(PROJECT_ROOT / "include"), str(PROJECT_ROOT / "tests"), str(PROJECT_ROOT / "scripts")]
    import replay_server

    fixtures = Path(os.environ.get("FILINGLAKE_FIXTURES") or PROJECT_ROOT.parent / "shared" / "fixtures")
    from fakes.replay import ReplayServer

    with ReplayServer(replay_server.build(fixtures, {})) as server:
        os.environ.update(replay_server.source_environment(server.url))
        os.environ["FILINGLAKE_STORAGE"] = (out.parent / "reference-storage").as_uri()
        os.environ["FILINGLAKE_SEC_USER_AGENT"] = "filinglake stack-test stack@example.com"
        from filinglake.config import load_settings
        from filinglake.ingest.landing import ingest
        from filinglake.publish.run import publish
        from filinglake.storage import Storage

        settings = load_settings()
        for source, partition in PARTITIONS:
            ingest(source, partition, settings, validate=False, wait_on_block=False)
        storage = Storage.from_settings(settings)
        publish(storage, settings, PARTITIONS)
        out.write_text(json.dumps(published_summary(storage)))
    return 0


def published_summary(storage: Any) -> dict[str, Any]:
    """Keys and counts of the published tables (what the stack must reproduce exactly)."""
    from filinglake.publish.run import read_published

    filings = read_published(storage, "filings")
    keys = sorted(f"{f}|{i}" for f, i in zip(filings["filing_id"].to_pylist(), filings["issuer_id"].to_pylist(),
                                             strict=True))
    by_source: dict[str, int] = {}
    for source in filings["source"].to_pylist():
        by_source[source] = by_source.get(source, 0) + 1
    return {"filings": filings.num_rows, "by_source": by_source, "keys": keys,
            "issuers": read_published(storage, "issuers").num_rows,
            "daily_counts": read_published(storage, "daily_counts").num_rows}


# --------------------------------------------------------------------------------------------------
# The scenario
# --------------------------------------------------------------------------------------------------


def terminal(state: str | None) -> bool:
    return state in ("success", "failed")


def fail_clock_runs(api: Api) -> None:
    """Mark failed (with a note) the runs the schedule created: their partitions are not among the fixtures.

    Deleting them would not do: the scheduler creates the run of the latest tick again.
    """
    for dag_id in INGEST_DAGS:
        for dag_run in api.runs(dag_id):
            if dag_run["run_type"] == "scheduled" and dag_run["state"] != "failed":
                path = f"/dags/{dag_id}/dagRuns/{dag_run['dag_run_id']}"
                api.send("PATCH", path, {"state": "failed"})
                api.send("PATCH", path, {"note": "stack test: a schedule tick outside the replayed fixtures"})
                say(f"marked {dag_id} {dag_run['dag_run_id']} failed: a scheduled run, outside the fixtures")


def describe_runs(api: Api, dag_ids: list[str]) -> str:
    """Every run of ``dag_ids`` with its unfinished or failed task instances (for failure messages)."""
    lines = []
    for dag_id in dag_ids:
        for dag_run in api.runs(dag_id):
            tis = [f"{t['task_id']}[{t['map_index']}]={t['state']}@{t.get('hostname')}"
                   for t in api.task_instances(dag_id, dag_run["dag_run_id"]) if t["state"] != "success"]
            lines.append(f"  {dag_id} {dag_run['dag_run_id']} {dag_run['state']} {' '.join(tis)}")
    return "\n".join(lines)


def drill_lost_worker(stack: Stack, api: Api, backfill_run: dict) -> dict[str, Any]:
    """SIGKILL the worker running the held fetch_index of the backfill run; its next try runs elsewhere."""
    dag_id, run_id = BACKFILL[0], backfill_run["dag_run_id"]

    def running_fetch() -> dict | None:
        for ti in api.task_instances(dag_id, run_id):
            if ti["task_id"] == "fetch_index" and ti["state"] == "running" and ti.get("hostname") in WORKERS:
                return ti
        return None

    ti = wait_for("the backfill's fetch_index to run", running_fetch, 240, 0.5)
    victim = ti["hostname"]
    survivor = next(name for name in WORKERS if name != victim)
    time.sleep(3)  # the download is held by the replay server for HOLD_SECONDS: the task is mid-request
    say(f"SIGKILL worker {victim} (process group {stack.procs.get(f'worker-{victim}').pid}) while it runs "
        f"{dag_id} {run_id} fetch_index try {ti['try_number']}")
    killed_at = time.monotonic()
    stack.procs.kill(f"worker-{victim}")

    def retried() -> dict | None:
        tries = api.tries(dag_id, run_id, "fetch_index")
        done = [t for t in tries if t["try_number"] > ti["try_number"] and t["state"] == "success"]
        return done[0] if done else None

    second = wait_for("fetch_index to be retried on the surviving worker", retried, 300, 2)
    recovered = time.monotonic() - killed_at
    tries = api.tries(dag_id, run_id, "fetch_index")
    first = next(t for t in tries if t["try_number"] == ti["try_number"])
    check(first["state"] == "failed" and first["hostname"] == victim,
          f"the killed try on {victim} ended {first['state']} on {first['hostname']}")
    check(second["hostname"] == survivor, f"the retry ran on {second['hostname']}, not on {survivor}")
    say(f"fetch_index try {ti['try_number']} on {victim}: {first['state']}; try {second['try_number']} on "
        f"{second['hostname']}: success, {recovered:.0f} s after the kill")
    start_worker(stack, victim)  # the machine comes back: later tasks spread over both workers again
    say(f"worker {victim} restarted")
    return {"victim": victim, "survivor": survivor, "recovery_seconds": round(recovered, 1)}


def scenario(stack: Stack, chromium: Path, reference: subprocess.Popen, reference_out: Path) -> dict[str, Any]:
    api = Api(stack.api)
    wait_for("the API server, scheduler, dag-processor and triggerer to be healthy", lambda: healthy(api), 240, 2)
    wait_for("both Celery workers", lambda: celery_workers_ready(stack), 180, 1)
    wait_for("the dag-processor to parse the 7 DAGs",
             lambda: {d["dag_id"] for d in api.get("/dags", limit=100)["dags"]} >= set(DAGS), 240, 2)
    say("stack up: API healthy, workers w1 and w2 ready, 7 DAGs parsed")

    errors = api.get("/importErrors")
    check(errors["total_entries"] == 0, f"import errors: {errors}")
    pools = {p["name"]: p["slots"] for p in api.get("/pools", limit=100)["pools"]}
    expected_pools = {name: spec["slots"] for name, spec in json.loads(POOLS_FILE.read_text()).items()}
    check(all(pools.get(n) == s for n, s in expected_pools.items()), f"pools {pools} != pools.json {expected_pools}")
    say(f"API: no import errors; pools {expected_pools} as in deploy/airflow/pools.json")

    for dag_id in UNPAUSE:
        api.send("PATCH", f"/dags/{dag_id}", {"is_paused": False})
    # With catchup off, unpausing a DAG makes the scheduler create a run for its latest schedule tick (today,
    # the last quarter): outside the fixtures, and with max_active_runs=1 such a run would hold the DAG's
    # slot for an hour of "not posted yet" retries. The test runs only fixture partitions: it deletes
    # every run the clock creates (also a tick that falls inside the test) as failed.
    with contextlib.suppress(StackFailure):  # usually within seconds; any later one is handled while waiting
        wait_for("the scheduler to create the runs of the latest ticks",
                 lambda: all(any(r["run_type"] == "scheduled" for r in api.runs(d)) for d in INGEST_DAGS), 30, 1)
    fail_clock_runs(api)

    airflow = str(VENV_BIN / "airflow")
    dag_id, start, end, quarter = BACKFILL
    run([airflow, "backfill", "create", "--dag-id", dag_id, "--from-date", start, "--to-date", end,
         "--max-active-runs", "1"], stack.env, stack.procs.log_dir / "backfill.log", 120)
    backfill_runs = wait_for("the backfill's run", lambda: [r for r in api.runs(dag_id) if r["run_type"] == "backfill"],
                             60, 1)
    check(len(backfill_runs) == 1, f"backfill {start}..{end} created {len(backfill_runs)} runs, expected 1 ({quarter})")
    say(f"airflow backfill create {dag_id} {start}..{end}: run {backfill_runs[0]['dag_run_id']} ({quarter})")

    triggered: list[tuple[str, str]] = []
    for dag, partition in TRIGGERED:
        run_id = f"stack__{partition}"
        api.send("POST", f"/dags/{dag}/dagRuns", {"dag_run_id": run_id, "logical_date": None,
                                                  "conf": {"partition": partition}})
        triggered.append((dag, run_id))
    say(f"triggered {len(triggered)} ingest runs: " + ", ".join(f"{d} {p}" for d, p in TRIGGERED))

    drill = drill_lost_worker(stack, api, backfill_runs[0])

    ingest_runs = [*triggered, (dag_id, backfill_runs[0]["dag_run_id"])]

    def ingests_done() -> bool:
        fail_clock_runs(api)
        states = {(d, r): api.get(f"/dags/{d}/dagRuns/{r}")["state"] for d, r in ingest_runs}
        failed = [key for key, state in states.items() if state == "failed"]
        check(not failed, f"ingest runs failed: {failed}\n{describe_runs(api, INGEST_DAGS)}")
        return all(state == "success" for state in states.values())

    try:
        wait_for("every ingest run to succeed", ingests_done, 420, 3)
    except StackFailure as failure:
        raise StackFailure(f"{failure}\n{describe_runs(api, INGEST_DAGS)}") from None
    say(f"all {len(ingest_runs)} ingest runs succeeded")

    def publish_settled() -> bool:
        runs = api.runs("publish_filings")
        # asset events not yet turned into a run (they arrived while a publish was running)
        pending = api.get("/dags/publish_filings/assets/queuedEvents")["total_entries"] > 0
        failed = [r["dag_run_id"] for r in runs if r["state"] == "failed"]
        check(not failed, f"publish_filings runs failed: {failed}")
        return bool(runs) and all(terminal(r["state"]) for r in runs) and not pending

    try:
        wait_for("the asset-triggered publish_filings runs to finish", publish_settled, 300, 3)
    except StackFailure as failure:
        raise StackFailure(f"{failure}\n{describe_runs(api, ['publish_filings'])}") from None
    publish_runs = api.runs("publish_filings")
    check(all(r["run_type"] == "asset_triggered" for r in publish_runs),
          f"publish runs not asset-triggered: {[r['run_type'] for r in publish_runs]}")
    say(f"publish_filings: {len(publish_runs)} asset-triggered run(s), all succeeded")

    # --- the data: exactly what the library publishes from the same partitions
    check(reference.wait(timeout=300) == 0, "the reference run (library only) failed: see reference.log")
    expected = json.loads(reference_out.read_text())
    from filinglake.config import load_settings
    from filinglake.storage import Storage

    os.environ.update({k: v for k, v in stack.env.items() if k.startswith(("FILINGLAKE_", "AWS_"))})
    actual = published_summary(Storage.from_settings(load_settings()))
    for name in ("filings", "by_source", "issuers", "daily_counts"):
        check(actual[name] == expected[name], f"published {name}: stack {actual[name]} != library {expected[name]}")
    check(actual["keys"] == expected["keys"], "published filings keys differ from the library's: "
          f"{len(set(actual['keys']) - set(expected['keys']))} extra, {len(set(expected['keys']) - set(actual['keys']))} missing")
    say(f"published tables = library's: {actual['filings']:,} filings {actual['by_source']}, "
        f"{actual['issuers']:,} issuers, {actual['daily_counts']:,} daily counts; keys identical")

    # --- where tasks ran, and their logs
    hosts: dict[str, int] = {}
    for d, r in ingest_runs + [("publish_filings", p["dag_run_id"]) for p in publish_runs]:
        for ti in api.task_instances(d, r):
            host = ti.get("hostname") or "?"
            if ti["state"] == "success":
                hosts[host] = hosts.get(host, 0) + 1
    check(set(WORKERS) <= set(hosts), f"successful task instances ran on {hosts}, expected both {WORKERS}")
    say(f"successful task instances per worker: {hosts}")
    log_keys = [o["Key"] for o in s3_client(stack.env["FILINGLAKE_S3_ENDPOINT_URL"]).list_objects_v2(
        Bucket=LOG_BUCKET, Prefix="airflow/").get("Contents", [])]
    check(any("dag_id=sec_edgar_quarterly" in key for key in log_keys), f"no task logs in s3://{LOG_BUCKET}: {log_keys[:5]}")
    say(f"remote logging: {len(log_keys)} task log objects in s3://{LOG_BUCKET}/airflow/")

    shots = screenshots(stack, api, chromium, backfill_runs[0]["dag_run_id"])
    return {"drill": drill, "hosts": hosts, "published": {k: v for k, v in actual.items() if k != "keys"},
            "publish_runs": len(publish_runs), "log_objects": len(log_keys), "screenshots": shots}


# --------------------------------------------------------------------------------------------------
# Screenshots
# --------------------------------------------------------------------------------------------------


def chromium(binary: Path, profile: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    argv = [str(binary), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
            f"--user-data-dir={profile}", "--hide-scrollbars", "--virtual-time-budget=20000", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, start_new_session=True)


def non_uniform(png: Path) -> int:
    """How many distinct colours the image has (a blank page has one or two)."""
    from PIL import Image

    with Image.open(png) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    return len(colours) if colours is not None else 1 << 20


def screenshots(stack: Stack, api: Api, binary: Path, backfill_run_id: str) -> list[str]:
    asset = next(a for a in api.get("/assets", limit=100)["assets"] if a["name"] == "clean.sec_edgar.filings")
    pages = [
        ("dag-list", "/dags", DAGS),
        ("grid-sec_edgar_quarterly", "/dags/sec_edgar_quarterly", ["sec_edgar_quarterly", "fetch_index"]),
        ("asset-graph", f"/assets/{asset['id']}", ["clean.sec_edgar.filings"]),
        ("task-log", f"/dags/sec_edgar_quarterly/runs/{backfill_run_id}/tasks/fetch_index?try_number=2",
         ["fetch_index"]),
    ]
    saved, problems = [], []
    for name, path, must_contain in pages:
        url = stack.api + path
        profile = stack.work / f"chromium-{name}"
        png = ARTEFACTS / f"{name}.png"
        png.unlink(missing_ok=True)
        shot = chromium(binary, profile, f"--screenshot={png}", "--window-size=1600,1000", url)
        check(png.exists(), f"chromium wrote no screenshot of {url}: {shot.stderr[-800:]}")
        dom = chromium(binary, profile, "--dump-dom", url).stdout
        (ARTEFACTS / f"{name}.html").write_text(dom)
        colours = non_uniform(png)
        missing = [text for text in must_contain if text not in dom]
        if colours <= 16 or missing or "Page Not Found" in dom:
            problems.append(f"{png.name} ({url}): {colours} colours, DOM lacks {missing}")
            continue
        saved.append(str(png.relative_to(PROJECT_ROOT)))
        say(f"screenshot {png.relative_to(PROJECT_ROOT)} ({colours} colours; DOM names {', '.join(must_contain[:3])}…)")
    check(not problems, "pages did not render: " + "; ".join(problems))
    return saved


# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="keep servers' folders here (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="do not delete the working folder afterwards")
    parser.add_argument("--reference", type=Path, help=argparse.SUPPRESS)  # internal: the library-only run
    args = parser.parse_args(argv)
    if args.reference:
        return reference_main(args.reference)

    binaries = ensure_packages()
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    log_dir = ARTEFACTS / "logs"
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="filinglake-stack-"))
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # the postgres user must reach its data folder inside
    procs = Processes(log_dir)
    stack = Stack(work, procs)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    outcome = "FAILED"
    try:
        say(f"stack test: work folder {work}, logs and screenshots in {ARTEFACTS.relative_to(PROJECT_ROOT)}/")
        reference_out = work / "reference.json"
        reference = procs.start("reference", [sys.executable, __file__, "--reference", str(reference_out)])
        db_url = start_postgres(stack, binaries["postgres"], secrets.token_hex(12))
        say(f"PostgreSQL on 127.0.0.1:{stack.ports['postgres']}")
        broker_url = start_redis(stack, binaries["redis"], secrets.token_hex(12))
        say(f"Redis on 127.0.0.1:{stack.ports['redis']}")
        s3_url = start_moto(stack)
        say(f"moto S3 on {s3_url} (buckets {DATA_BUCKET}, {LOG_BUCKET})")
        stack.replay_env = start_replay(stack)
        say(f"replay server: {stack.replay_env['FILINGLAKE_SEC_BASE_URL']} (SEC), CNINFO and HKEX alike")
        stack.env = airflow_environment(stack, db_url, broker_url, s3_url)
        start_airflow(stack)
        say(f"Airflow starting: api-server {stack.api}, scheduler, dag-processor, triggerer, workers {', '.join(WORKERS)}")
        result = scenario(stack, binaries["chromium"], reference, reference_out)
        (ARTEFACTS / "result.json").write_text(json.dumps(result, indent=2))
        outcome = "PASSED"
        return 0
    except StackFailure as failure:
        say(f"FAILED: {failure}")
        say(f"component logs: {log_dir.relative_to(PROJECT_ROOT)}/")
        return 1
    finally:
        say("stopping every process started (by process group)")
        procs.stop_all()
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
        say(f"stack test {outcome} in {time.monotonic() - STARTED:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
