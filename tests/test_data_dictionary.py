"""docs/data_dictionary.md: generated from the schemas, complete, and true of the data the demo publishes."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from filinglake import data_dictionary
from filinglake.data_dictionary import NOT_DELTA, OUTPUT, delta_type, render, table_schemas
from filinglake.query import connect, run_query
from filinglake.schema import DATA_DICTIONARY, ColumnDoc, TableDoc
from filinglake.storage import Storage

#: columns holding when the pipeline ran: their example is checked for its type only
RUN_TIMES = {("filings", "first_seen_at"), ("filings", "last_seen_at"), ("issuers", "last_seen_at"),
             ("alerts", "alerted_at"), ("quarantine", "archived_at"),
             # a security's versions are dated by the day its reference list was archived
             ("securities", "valid_from"), ("securities", "valid_to"), ("securities", "last_seen_on"),
             ("securities", "raw_key")}
#: columns of a captured document: the stand-ins serve no documents, so the demo captures none
NOT_IN_DEMO = {("alerts", "document_key"), ("alerts", "document_sha256"), ("alerts", "document_bytes"),
               ("alerts", "document_content_type"),
               # the demo archives SEC's ticker list and HKEXnews' stock lists, no CNINFO stock list
               ("securities", "name_pinyin"), ("securities", "category"),
               # a list of structs has no `=` on its SQL text; test_categories checks the values
               ("filings", "categories"),
               # the demo's links are the reviewed list's (undated, worded by the list); test_links checks the
               # rules' evidence and dates on the captured lists
               ("issuer_links", "evidence"), ("issuer_links", "valid_from"), ("issuer_links", "valid_to")}


def test_the_committed_dictionary_is_what_the_schemas_generate(tmp_path: Path) -> None:
    assert OUTPUT.read_text(encoding="utf-8") == render(), "run `python -m filinglake.data_dictionary` and commit"
    assert data_dictionary.main(["--check"]) == 0
    stale = tmp_path / "data_dictionary.md"
    stale.write_text(render().replace("| `form_types` |", "| `form_kinds` |"), encoding="utf-8")
    assert data_dictionary.main(["--check", "--output", str(stale)]) == 1
    assert data_dictionary.main(["--output", str(stale)]) == 0 and stale.read_text(encoding="utf-8") == render()


def test_every_column_of_every_table_has_a_meaning_and_an_example() -> None:
    schemas = table_schemas()
    assert set(schemas) == set(DATA_DICTIONARY) == {"filings", "issuers", "daily_counts", "category_counts",
                                                    "alerts", "securities", "issuer_links", "quarantine"}
    for table, schema in schemas.items():
        doc = DATA_DICTIONARY[table]
        assert doc.about.strip(), table
        assert set(doc.columns) == set(schema.names), table
        for field in schema:
            column = doc.columns[field.name]
            assert column.meaning.strip(), f"{table}.{field.name} has no meaning"
            assert column.example is not None, f"{table}.{field.name} has no example"
            assert f"| `{field.name}` |" in render().split(f"\n## {table}\n", 1)[1].split("\n## ", 1)[0]


def test_a_column_without_a_meaning_stops_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    columns = {k: v for k, v in DATA_DICTIONARY["issuers"].columns.items() if k != "org_id"}
    monkeypatch.setitem(DATA_DICTIONARY, "issuers", TableDoc(DATA_DICTIONARY["issuers"].about, columns))
    with pytest.raises(ValueError, match=r"issuers: columns without a meaning \['org_id'\]"):
        render()
    monkeypatch.setitem(DATA_DICTIONARY, "issuers", TableDoc("x", {**columns, "org_id": ColumnDoc("x", "y"),
                                                                    "gone": ColumnDoc("x", "y")}))
    with pytest.raises(ValueError, match=r"meanings without a column \['gone'\]"):
        render()


def test_the_generator_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = ("import sys, filinglake.data_dictionary as d; d.render(); "
            "print(sorted(m for m in ('duckdb', 'deltalake', 'airflow', 's3fs', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- against the data the demo publishes --------------------------------------------------------


def test_the_views_have_the_documented_columns_in_order(demo_lake: Storage) -> None:
    con = connect(demo_lake)
    try:
        for table, schema in table_schemas().items():
            described = [row[0] for row in con.sql(f'DESCRIBE "{table}"').fetchall()]
            assert described == schema.names, table
    finally:
        con.close()


def _delta_json_type(typ: object) -> str:
    if isinstance(typ, dict) and typ["type"] == "struct":
        return "struct<" + ", ".join(f"{f['name']}: {_delta_json_type(f['type'])}" for f in typ["fields"]) + ">"
    if isinstance(typ, dict):
        assert typ["type"] == "array", typ
        return f"array<{_delta_json_type(typ['elementType'])}>"
    return str(typ)


def test_delta_types_and_nullability_are_those_in_the_tables_logs(demo_lake: Storage) -> None:
    import json

    for table, schema in table_schemas().items():
        if table in NOT_DELTA:
            continue
        logged = {f["name"]: f for f in json.loads(DeltaTable(demo_lake.path(f"published/{table}")).schema().to_json())["fields"]}
        assert list(logged) == schema.names, table
        for field in schema:
            assert _delta_json_type(logged[field.name]["type"]) == delta_type(field.type), f"{table}.{field.name}"
            assert logged[field.name]["nullable"] == field.nullable, f"{table}.{field.name}"


def _examples() -> list[tuple[str, str]]:
    return [(t, c) for t, schema in table_schemas().items() for c in schema.names]


@pytest.mark.parametrize(("table", "column"), _examples(), ids=lambda v: v)
def test_each_example_has_the_column_type_and_occurs_in_the_demo_data(table: str, column: str,
                                                                       demo_lake: Storage) -> None:
    field = table_schemas()[table].field(column)
    example = DATA_DICTIONARY[table].columns[column].example
    assert pa.array([example], type=field.type).type == field.type  # raises when the value does not fit
    if (table, column) in RUN_TIMES | NOT_IN_DEMO:
        return
    found = run_query(f'SELECT count(*) AS n FROM "{table}" WHERE "{column}" = $example'.replace(
        "$example", data_dictionary.example_text(example)), storage=demo_lake)
    assert found["n"][0].as_py() > 0, f"{table}.{column} = {example!r} is not in the demo data"


def test_columns_required_for_a_source_are_never_null_for_it_in_the_demo_data(demo_lake: Storage) -> None:
    from filinglake.data_dictionary import always_set

    required = always_set()
    assert set(required["filing_id"]) == set(required["issuer_id"]) == {"sec_edgar", "cninfo", "hkex"}
    assert required["form_type"] == ["sec_edgar"] and required["filed_at"] == ["hkex"]  # what the rules say today
    assert "| `title` | `string` | `string` | yes | `cninfo`, `hkex` |" in OUTPUT.read_text(encoding="utf-8")
    for column, sources in required.items():
        for source in sources:
            found = run_query(f'SELECT count(*) AS n, count("{column}") AS filled FROM filings '
                              f"WHERE source = '{source}'", storage=demo_lake).to_pylist()[0]
            assert found["n"] > 0 and found["filled"] == found["n"], f"filings.{column} is null for {source}"
    # and the claim means something: a column no rule requires is null somewhere (SEC index rows have no title)
    assert run_query("SELECT count(*) AS n FROM filings WHERE source = 'sec_edgar' AND title IS NULL",
                     storage=demo_lake)["n"][0].as_py() > 0
