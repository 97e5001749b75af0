"""The import direction of the library: each folder may only import what comes before it in the data flow.

foundations (config, errors, schema, http, storage, manifests, tickers, freshness) → sources → ingest → publish
→ alerts → query, report, data_dictionary → cli. Nothing in ``include/`` imports Airflow, the tests' stand-ins
or the CLI.
Read from the source text (AST), so a lazy import inside a function counts as much as a top-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1] / "include" / "filinglake"

FOUNDATIONS = {"config", "errors", "schema", "http", "storage", "manifests", "tickers", "freshness", "__init__"}

#: room → the rooms of filinglake it must never import
FORBIDDEN: dict[str, set[str]] = {
    "foundations": {"sources", "ingest", "publish", "alerts", "query", "report", "cli"},
    "sources": {"ingest", "publish", "alerts", "query", "report", "cli"},
    "ingest": {"publish", "alerts", "query", "report", "cli"},
    "publish": {"ingest", "alerts", "query", "report", "cli"},
    "alerts": {"ingest", "query", "report", "cli"},
    "query": {"ingest", "report", "cli"},
    "data_dictionary": {"ingest", "alerts", "query", "report", "cli"},
    "report": {"cli"},
    "cli": set(),
}
#: the row checks are the shared rule vocabulary: sources declare their rules with them
ALLOWED_EXCEPTIONS = {("sources", "filinglake.ingest.row_checks")}
NEVER = ("airflow", "filinglake_airflow", "fakes", "support", "pytest")


def room_of(path: Path) -> str:
    rel = path.relative_to(LIBRARY)
    if len(rel.parts) == 1:
        stem = rel.stem
        return "foundations" if stem in FOUNDATIONS else stem
    return rel.parts[0]


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.count(".") <= 1:
                # `from filinglake import publish`, `from filinglake.ingest import row_checks`: the imported
                # name says which module (or room) is reached
                names.extend(f"{node.module}.{alias.name}" for alias in node.names)
            else:
                names.append(node.module)
    return names


MODULES = sorted(LIBRARY.rglob("*.py"))


def test_every_library_module_belongs_to_a_known_room() -> None:
    rooms = {room_of(p) for p in MODULES}
    assert rooms <= set(FORBIDDEN), f"unknown rooms: {rooms - set(FORBIDDEN)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_imports_follow_the_data_flow(path: Path) -> None:
    room = room_of(path)
    wrong = []
    for name in imported_modules(path):
        top = name.split(".")[0]
        if top in NEVER:
            wrong.append(name)
            continue
        if top != "filinglake" or name == "filinglake":
            continue
        target = name.split(".")[1]
        target_room = "foundations" if target in FOUNDATIONS else target
        allowed = any(room == r and (name == m or name.startswith(m + ".")) for r, m in ALLOWED_EXCEPTIONS)
        if target_room in FORBIDDEN[room] and not allowed:
            wrong.append(name)
    assert not wrong, f"{path.relative_to(LIBRARY)} ({room}) must not import {wrong}"


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The rule above can fail: a sources module importing publish, or any module importing Airflow, is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from filinglake.publish import delta\n    import airflow.sdk\n")
    assert imported_modules(bad) == ["filinglake.publish.delta", "airflow.sdk"]
