"""Shared pytest fixtures: where the real captured fixtures live, a local replay server, clean HTTP state."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from filinglake.http import reset_host_state
from filinglake.replay import ReplayServer, Routes

PROJECT_ROOT = Path(__file__).resolve().parents[1]


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
