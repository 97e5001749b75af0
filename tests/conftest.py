"""Shared pytest fixtures: where the real captured fixtures live, a local replay server, clean HTTP state."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakes.replay import ReplayServer, Routes

from filinglake.http import reset_host_state

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Airflow puts plugins/ and dags/ on sys.path; tests import filinglake_airflow and DAG modules the same way.
for _folder in (PROJECT_ROOT / "plugins", PROJECT_ROOT / "dags"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))


def _isolate_airflow() -> Path:
    """One throwaway AIRFLOW_HOME (SQLite inside) per test session, set before anything imports airflow.

    Airflow reads its configuration on first import, so this runs when conftest is loaded, before
    test modules are collected. Never the developer's ~/airflow or the demo's .airflow/.
    """
    home = Path(tempfile.mkdtemp(prefix="filinglake-airflow-test-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        }
    )
    return home


AIRFLOW_TEST_HOME = _isolate_airflow()


_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0", ""}


def _forbid_the_internet() -> None:
    """Tests never leave this machine: resolving or connecting to any non-local host raises.

    A safety net under the rule that every HTTP call goes to a replay or moto server on
    127.0.0.1: a code path that would reach a real source fails loudly instead of quietly passing.
    (Subprocesses such as moto_server are not affected; they only serve loopback.)
    """
    import socket

    real_getaddrinfo, real_connect, real_connect_ex = socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex

    def check(host: object) -> None:
        if isinstance(host, bytes):
            host = host.decode()
        if isinstance(host, str) and host not in _LOCAL_HOSTS and not host.startswith("127."):
            raise OSError(f"tests must not touch the internet (tried to reach {host!r})")

    def getaddrinfo(host, *args, **kwargs):
        check(host)
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if isinstance(address, tuple):
            check(address[0])
        return real_connect(self, address)

    def connect_ex(self, address):
        if isinstance(address, tuple):
            check(address[0])
        return real_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex


_forbid_the_internet()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Real public captures (see PROVENANCE.md there); never copied into the repository."""
    path = Path(os.environ.get("FILINGLAKE_FIXTURES") or PROJECT_ROOT.parent / "shared" / "fixtures")
    if not path.is_dir():
        pytest.fail(f"fixtures not found at {path}: set FILINGLAKE_FIXTURES")
    return path


@pytest.fixture(autouse=True)
def _fresh_http_hosts() -> Iterator[None]:
    """Pacing and blocks are per process and keyed by host:port; a reused local port must start clean."""
    reset_host_state()
    yield
    reset_host_state()


@pytest.fixture
def replay_server() -> Iterator[Callable[[Routes], ReplayServer]]:
    """Factory: ``server = replay_server(routes)`` starts a server on 127.0.0.1 that is stopped after the test."""
    started: list[ReplayServer] = []

    def start(routes: Routes) -> ReplayServer:
        server = ReplayServer(routes).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# --- Airflow: one metadata DB and one storage root per session, for dag.test() runs ------------------


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The session's Airflow metadata DB, migrated once (`airflow db migrate`), with the filinglake pools."""
    from support.airflow_harness import prepare_metadata_db

    prepare_metadata_db()
    return AIRFLOW_TEST_HOME


@pytest.fixture(scope="session")
def dag_storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FILINGLAKE_STORAGE for every dag.test() of the session (tests use distinct partitions)."""
    return tmp_path_factory.mktemp("dag-storage")


@pytest.fixture
def dag_env(airflow_db: Path, dag_storage: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Environment for a dag.test() run: the session storage root and a declared SEC User-Agent."""
    monkeypatch.setenv("FILINGLAKE_STORAGE", dag_storage.as_uri())
    monkeypatch.setenv("FILINGLAKE_SEC_USER_AGENT", "filinglake tests tests@example.com")
    return dag_storage


@pytest.fixture
def sec_server(fixtures_dir: Path) -> Iterator[ReplayServer]:
    """The SEC archive replayed from the fixtures on 127.0.0.1 (tests may swap a route's answer)."""
    from fakes.sec_edgar import sec_archive_routes

    with ReplayServer(sec_archive_routes(fixtures_dir)) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, sec_server):
    """Settings pointing SEC at :func:`sec_server`, storage in ``tmp_path/lake``, fast pacing, one retry."""
    from filinglake.config import Settings

    return Settings(storage=(tmp_path / "lake").as_uri(), sec_user_agent="filinglake-tests tests@example.com",
                    http_retries=1).with_source("sec_edgar", base_url=sec_server.sec_base_url, rate=10)


# --- the lake `make demo` publishes, built once per session through the library (tests/support/demo_lake.py) ---


@pytest.fixture(scope="session")
def demo_lake(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Storage with every demo partition landed and published, the default watchlist's alerts and a quarantine."""
    from support.demo_lake import build_demo_lake

    return build_demo_lake(tmp_path_factory.mktemp("demo") / "lake", fixtures_dir)
