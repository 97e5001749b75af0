"""The test suite's safety net: nothing in a test process may reach a host other than this machine."""

from __future__ import annotations

import httpx
import pytest


def test_a_real_source_host_is_unreachable_from_tests() -> None:
    with pytest.raises(httpx.ConnectError, match="must not touch the internet"):
        httpx.get("https://www.sec.gov/Archives/edgar/full-index/", timeout=2)
