"""What ships: the library never names the captured fixtures, and its wheel holds no test stand-ins.

The fixtures (``../shared/fixtures``) and the stand-in servers (``tests/fakes``) are test material: code
under ``include/`` that named them would work on a developer's machine and break once installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
INCLUDE = PROJECT_ROOT / "include"
#: fixture files that keep the name the real host serves them under (the library asks for those names)
UPSTREAM_NAMES = {"master.idx", "master.gz", "xbrl.idx", "company_tickers.json"}
#: module names that are test material, never library code
TEST_MODULES = {"fakes", "replay", "support", "conftest"}


def _library_files() -> list[Path]:
    return sorted(p for p in INCLUDE.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def fixture_names(fixtures_dir: Path) -> set[str]:
    """Each fixture's path under the fixtures folder, and its file name unless the real host uses it too."""
    names: set[str] = set()
    for path in fixtures_dir.rglob("*"):
        if path.is_file():
            names.add(path.relative_to(fixtures_dir).as_posix())
            if path.name not in UPSTREAM_NAMES:
                names.add(path.name)
    return names


def test_library_names_no_fixture(fixtures_dir):
    names = fixture_names(fixtures_dir)
    assert "edgar/daily/master.20181231.excerpt.idx" in names and "PROVENANCE.md" in names
    forbidden = {"../shared", "fixtures/", *names}
    found = [f"{path.relative_to(PROJECT_ROOT)}: {needle!r}"
             for path in _library_files() for needle in sorted(forbidden) if needle in path.read_text(errors="replace")]
    assert found == []


def _uv() -> list[str]:
    """uv as `make install` finds it: on PATH, else the module in a python3.11's user site (not the venv's)."""
    if shutil.which("uv"):
        return ["uv"]
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep) if d != venv_bin)
    return [shutil.which("python3.11", path=path) or "python3.11", "-m", "uv"]


def test_wheel_holds_the_library_and_no_test_material(tmp_path):
    # --offline: the build backend (hatchling) comes from uv's cache, filled when `make install` built the project
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    out = subprocess.run([*_uv(), "build", "--wheel", "--offline", "--out-dir", str(tmp_path), str(PROJECT_ROOT)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    modules = {part.removesuffix(".py") for name in names for part in name.split("/")}
    assert "filinglake/sources/sec_edgar.py" in names and "filinglake/http.py" in names
    assert modules & TEST_MODULES == set()
    assert not [n for n in names if n.startswith(("tests/", "dags/", "plugins/", "scripts/"))]
