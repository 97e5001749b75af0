"""The validation record counts exactly what the row checks count, on a real SEC quarter with planted faults.

Input: the real 2016 Q3 master index (201,330 rows) parsed by the SEC parser, plus rows this test
breaks on purpose (blank and null names, malformed and full-width accessions, future and missing
dates, duplicate keys, foreign URLs). GX is imported once for the module (~3-5 s).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from support.landed_partition import land_rows

from filinglake.config import Settings
from filinglake.ingest import row_checks as quality
from filinglake.ingest.validation import (
    NULL_KEY_SENTINEL,
    ValidationMismatch,
    data_docs_key,
    gx_frame,
    gx_regex,
    validate_partition,
    validate_table,
)
from filinglake.schema import PARSED_SCHEMA
from filinglake.sources.sec_edgar import SecEdgar
from filinglake.storage import Storage, manifest_key, validation_key

SOURCE = "sec_edgar"
PARTITION = "2016Q3"


@pytest.fixture(scope="module")
def sec_quarter(fixtures_dir: Path) -> pa.Table:
    data = (fixtures_dir / "edgar/full-index/2016/QTR3/master.gz").read_bytes()
    table = SecEdgar().parse(data, "master.gz")
    assert table.num_rows == 201_330
    return table


@pytest.fixture(scope="module")
def rules() -> list[quality.Rule]:
    """The SEC rules plus the two kinds they lack: a set membership and a one-column key."""
    source = SecEdgar()
    return [
        *source.rules(source.partition(PARTITION)),
        quality.in_set("form_type", ["4", "8-K", "10-Q", "SC 13G/A", "D", "3", "424B2"], name="common_form"),
        quality.unique(["filing_id"], name="filing_id_unique"),
    ]


def _broken_rows(table: pa.Table) -> pa.Table:
    """Real rows with one planted fault each, to append to the real table.

    Each row gets a fresh, valid accession first, so that only its planted fault (not a collision
    with the row it was copied from) decides which rules it breaks.
    """
    faults = [
        {"company_name": ""},  # empty -> missing
        {"company_name": "   "},  # blank -> missing
        {"company_name": None},
        {"native_id": "0001209191-16-14012X"},
        # full-width digits: RE2's \d rejects them, Python's re would accept them
        {"native_id": "０００１２０９１９１-16-140125", "issuer_id": "１００００３２"},
        {"issuer_id": "  "},  # blank CIK: fails required, passes cik_digits (missing passes)
        {"filing_date": date(2031, 1, 1)},
        {"filing_date": None},
        {"document_url": "https://evil.example.com/Archives/edgar/data/1000032/x-index.htm"},
        {"document_url": "https://www.sec.gov.evil.example/Archives/x-index.htm"},
        {"form_type": " "},  # blank form: fails required, passes the set check
        {"form_type": "NOT-A-FORM"},
        # two rows with the whole key missing (not exact duplicates: titles differ): one repeated key
        *[
            {
                "native_id": None,
                "issuer_id": None,
                "form_type": None,
                "company_name": None,
                "filing_date": None,
                "filing_id": None,
                "title": title,
            }
            for title in ("first", "second")
        ],
    ]
    originals = table.slice(100, len(faults)).to_pylist()
    rows = []
    for i, (row, fault) in enumerate(zip(originals, faults, strict=True)):
        accession = f"0009999999-16-{i:06d}"
        rows.append({**row, "native_id": accession, "filing_id": f"sec_edgar:{accession}", **fault})
    rows.append(table.slice(5, 1).to_pylist()[0])  # an exact repeat of row 5: both fail key_unique
    return pa.Table.from_pylist(rows, schema=PARSED_SCHEMA)


@pytest.fixture(scope="module")
def broken_quarter(sec_quarter: pa.Table) -> pa.Table:
    return pa.concat_tables([sec_quarter, _broken_rows(sec_quarter)])


def _row_check_counts(table: pa.Table, rules: list[quality.Rule]) -> dict[str, int]:
    return {r.name: pc.sum(quality.rule_failures(table, r)).as_py() or 0 for r in rules}


def test_gx_counts_equal_row_checks_on_real_quarter_with_planted_faults(broken_quarter, sec_quarter, rules):
    report = validate_table(broken_quarter, rules, "sec_edgar.2016Q3")

    expected = _row_check_counts(broken_quarter, rules)
    got = {name: entry["gx_unexpected"] for name, entry in report.per_rule.items()}
    assert got == expected
    assert report.success and report.mismatches == []
    assert not report.gx_success  # rows do break rules: GX's own verdict says so
    assert report.rows == 201_330 + 15
    # every planted fault is counted (the real quarter itself breaks none of the SEC rules but the set/key ones)
    clean_counts = _row_check_counts(sec_quarter, rules)
    planted = {name: expected[name] - clean_counts[name] for name in expected}
    assert planted["company_name_present"] == 5  # "", "   ", None and the two key-less rows
    assert planted["issuer_id_present"] == 3
    assert planted["accession_format"] == 2  # "…14012X" and the full-width one
    assert planted["cik_digits"] == 1  # full-width CIK; the blank one counts as missing, not malformed
    assert planted["filing_date_plausible"] == 1
    assert planted["filing_date_present"] == 3
    assert planted["document_url_on_source_host"] == 2
    assert planted["form_type_present"] == 3
    assert planted["key_unique"] == 4  # row 5 + its copy, and the two key-less rows
    assert expected["filing_id_unique"] > 2  # real: one accession under several CIKs; plus two null ids
    assert all(entry["exception"] is None for entry in report.per_rule.values())


def test_suite_has_one_expectation_per_rule_named_in_meta(broken_quarter, rules):
    report = validate_table(broken_quarter.slice(0, 2_000), rules, "sec_edgar.sample")
    expectations = report.gx_result["expectations"]
    assert [e["rule"] for e in expectations] == [r.name for r in rules]
    types = {e["rule"]: e["expectation_type"] for e in expectations}
    assert types["company_name_present"] == "expect_column_values_to_not_be_null"
    assert types["accession_format"] == "expect_column_values_to_match_regex"
    assert types["common_form"] == "expect_column_values_to_be_in_set"
    assert types["filing_date_plausible"] == "expect_column_values_to_be_between"
    assert types["key_unique"] == "expect_compound_columns_to_be_unique"
    assert types["filing_id_unique"] == "expect_column_values_to_be_unique"


def test_gx_frame_shapes_columns_like_the_row_checks(broken_quarter, rules):
    tail = broken_quarter.slice(broken_quarter.num_rows - 15)
    plan = gx_frame(tail, rules)
    frame = plan.frame
    # dates as tz-aware datetime64: GX's vectorised comparison path
    assert str(frame["filing_date"].dtype).startswith("datetime64[s, UTC]")
    # blanks are missing for required/matches/in_set, but raw in the key columns
    assert frame["company_name"].isna().sum() == 5
    key_company = plan.columns["key_unique"][3]
    assert key_company == "company_name[raw]"
    assert frame[key_company].isna().sum() == 3
    # a one-column key gets a sentinel for nulls: GX's map expectations would skip them
    single = plan.columns["filing_id_unique"][0]
    assert (frame[single] == NULL_KEY_SENTINEL).sum() == 2
    assert single == "filing_id[raw,null=sentinel]"
    # only the columns rules read; a second copy only where the views really differ (blanks, null keys)
    assert sorted(frame.columns) == sorted(
        [
            "filing_id",
            "native_id",
            "issuer_id",
            "company_name",
            "form_type",
            "filing_date",
            "document_url",
            "issuer_id[raw]",
            "company_name[raw]",
            "form_type[raw]",
            "filing_id[raw,null=sentinel]",
        ]
    )
    assert not any(name.startswith(("native_id[", "filing_date[")) for name in frame.columns)


def test_one_column_in_three_views_keeps_each_rules_semantics():
    """required (blank = missing), a one-column key (nulls equal) and a compound key (blank is a value)."""
    table = pa.table(
        {
            "company_name": ["A", "A", "", " ", None, None, "B"],
            "issuer_id": ["1", "2", "3", "3", "4", "4", "5"],
        }
    )
    rules = [
        quality.required("company_name"),
        quality.unique(["company_name"], name="name_unique"),
        quality.unique(["company_name", "issuer_id"], name="pair_unique"),
    ]
    report = validate_table(table, rules, "views")
    assert report.success, report.mismatches
    assert {n: e["gx_unexpected"] for n, e in report.per_rule.items()} == {
        "company_name_present": 4,
        "name_unique": 4,
        "pair_unique": 2,
    }
    assert sorted(gx_frame(table, rules).frame.columns) == [
        "company_name",
        "company_name[raw,null=sentinel]",
        "company_name[raw]",
        "issuer_id",
    ]


def test_tampered_manifest_counts_raise_validation_mismatch(tmp_path, broken_quarter, rules):
    storage = Storage(f"file://{tmp_path}")
    sample = pa.concat_tables(
        [broken_quarter.slice(0, 3_000), broken_quarter.slice(broken_quarter.num_rows - 15)]
    )
    manifest = _write_partition(storage, sample, rules)
    honest = manifest["failures"]["accession_format"]
    manifest["failures"]["accession_format"] = honest + 1
    storage.put_json(manifest_key(SOURCE, PARTITION), manifest)

    with pytest.raises(ValidationMismatch) as caught:
        validate_partition(storage, SOURCE, PARTITION, rules)
    message = str(caught.value)
    assert "\n" not in message
    assert f"accession_format: GX {honest} vs row checks {honest + 1}" in message
    record = json.loads(storage.get_bytes(validation_key(SOURCE, PARTITION)))
    assert record["success"] is False
    assert record["per_rule"]["accession_format"] == {
        "gx_unexpected": honest,
        "row_checks": honest + 1,
        "exception": None,
    }


def test_expectation_that_raises_is_reported_as_mismatch(broken_quarter, rules):
    """A date rule on a text column: GX raises inside the expectation and only exception_info shows it."""
    sample = broken_quarter.slice(0, 1_000)
    wrong = quality.date_between("form_type", date(1993, 1, 1), date(2016, 10, 1), name="form_type_dated")
    missing = quality.required("no_such_column")
    counts = {**_row_check_counts(sample, rules), "form_type_dated": 0, "no_such_column_present": 0}

    report = validate_table(sample, [*rules, wrong, missing], "sec_edgar.raises", counts)

    assert not report.success
    for name in ("form_type_dated", "no_such_column_present"):
        entry = report.per_rule[name]
        assert entry["gx_unexpected"] is None
        assert entry["exception"], entry
        assert any(m.startswith(f"{name}: GX raised") for m in report.mismatches)
    assert len(report.mismatches) == 2  # every real rule still agrees
    with pytest.raises(ValidationMismatch, match="form_type_dated: GX raised"):
        report.raise_for_mismatch()


def test_validate_partition_writes_report_and_data_docs(tmp_path, broken_quarter, rules, caplog):
    storage = Storage(f"file://{tmp_path}")
    sample = pa.concat_tables(
        [broken_quarter.slice(0, 5_000), broken_quarter.slice(broken_quarter.num_rows - 15)]
    )
    manifest = _write_partition(storage, sample, rules)

    report = validate_partition(storage, SOURCE, PARTITION, rules)

    assert report.success, report.mismatches
    assert report.rows == manifest["rows_written"] + manifest["quarantined"]
    assert manifest["quarantined"] > 0 and manifest["duplicates"] == 1  # the copy of row 5, dropped
    assert {n: e["gx_unexpected"] for n, e in report.per_rule.items()} == manifest["failures"]
    assert report.key == validation_key(SOURCE, PARTITION)
    record = json.loads((tmp_path / report.key).read_text())
    assert record["success"] is True and record["source"] == SOURCE and record["partition"] == PARTITION
    assert record["gx_result"]["statistics"]["evaluated_expectations"] == len(rules)
    assert record["data_docs_key"] == data_docs_key(SOURCE, PARTITION)
    page = (tmp_path / report.data_docs_key).read_text()
    assert page.lstrip().startswith("<!DOCTYPE html>")
    assert "GX agrees with the row checks" in page and "accession_format" in page
    assert "evil.example.com" in page  # GX's own section, with sampled unexpected values
    # null examples (pd.NA) must not break GX's renderers (they log a traceback and drop the section)
    assert not [r for r in caplog.records if "data docs rendering" in r.getMessage()]
    assert "gx_result" not in report.to_dict()  # the XCom-sized dict leaves GX's full result out


def test_validate_partition_on_s3_serves_data_docs_as_html(broken_quarter, rules):
    """The same record on a real S3 endpoint (moto server on 127.0.0.1); the page has an HTML Content-Type."""
    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket="lake")
        settings = Settings(
            storage="s3://lake/test",
            s3_endpoint_url=endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        storage = Storage.from_settings(settings)
        manifest = _write_partition(storage, broken_quarter.slice(broken_quarter.num_rows - 500), rules)

        report = validate_partition(storage, SOURCE, PARTITION, rules)

        assert report.success and report.rows == manifest["rows_written"] + manifest["quarantined"]
        page = s3.get_object(Bucket="lake", Key=f"test/{report.data_docs_key}")
        assert page["ContentType"].startswith("text/html")
        assert b"filinglake-comparison" in page["Body"].read()
        assert json.loads(storage.get_bytes(report.key))["success"] is True
    finally:
        server.stop()


def test_empty_partition_validates(tmp_path, rules):
    storage = Storage(f"file://{tmp_path}")
    _write_partition(storage, PARSED_SCHEMA.empty_table(), rules, status="empty")
    report = validate_partition(storage, SOURCE, PARTITION, rules)
    assert report.success and report.rows == 0
    assert all(e["gx_unexpected"] == 0 for e in report.per_rule.values())


def test_missing_manifest_is_a_clear_error(tmp_path, rules):
    with pytest.raises(ValidationMismatch, match="no manifest"):
        validate_partition(Storage(f"file://{tmp_path}"), SOURCE, PARTITION, rules)


@pytest.mark.parametrize(
    ("pattern", "spelled"),
    [
        (r"^\d{10}-\d{2}-\d{6}$", r"^[0-9]{10}-[0-9]{2}-[0-9]{6}$"),
        (r"^https?://(www\.sec\.gov)(/|$)", r"^https?://(www\.sec\.gov)(/|$)"),
        (r"[\d-]+\s\W", r"[0-9-]+[\t\n\f\r ][^0-9A-Za-z_]"),
        (r"\\d[^\d][\D]", r"\\d[^0-9][\D]"),  # escaped backslash stays; a negated class inside [] too
        (r"[]\w]", r"[]0-9A-Za-z_]"),
    ],
)
def test_gx_regex_spells_class_escapes_as_re2_does(pattern, spelled):
    assert gx_regex(pattern) == spelled


def test_gx_regex_keeps_re2_meaning_on_non_ascii_text():
    values = pa.chunked_array([["１２３", "123", "abc", "x\u3000y", "x y"]])
    for pattern in (r"^\d+$", r"^\w+$", r"x\sy"):
        re2 = pc.match_substring_regex(values, pattern)
        assert pc.match_substring_regex(values, gx_regex(pattern)).equals(re2), pattern


# ------------------------------------------------------------------------------------------------
# GX's fixed cost is paid once per process, and its log lines stay out of filinglake's
# ------------------------------------------------------------------------------------------------

DAILY_FIXTURES = {"2018-12-31": "master.20181231.excerpt.idx", "2026-01-02": "master.20260102.excerpt.idx"}


@pytest.fixture
def daily_partitions(tmp_path, fixtures_dir: Path) -> tuple[Storage, dict[str, list[quality.Rule]]]:
    """Two real SEC days landed in one storage root, each with its own rules (their date bounds differ)."""
    storage = Storage(f"file://{tmp_path}")
    source = SecEdgar()
    rules_of = {}
    for day, name in DAILY_FIXTURES.items():
        rules_of[day] = source.rules(source.partition(day))
        parsed = source.parse((fixtures_dir / "edgar/daily" / name).read_bytes(), name)
        land_rows(storage, SOURCE, day, parsed, rules_of[day])
    return storage, rules_of


@pytest.fixture
def fresh_gx_session(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Forget this process's GX session and count how often GX contexts and suites are built from now on."""
    import great_expectations as gx

    from filinglake.ingest import validation

    built = {"contexts": 0, "suites": 0}
    get_context, build_suite = gx.get_context, validation.build_suite

    def counting_get_context(*args, **kwargs):
        built["contexts"] += 1
        return get_context(*args, **kwargs)

    def counting_build_suite(*args, **kwargs):
        built["suites"] += 1
        return build_suite(*args, **kwargs)

    monkeypatch.setattr(validation, "_session", None, raising=False)
    monkeypatch.setattr(gx, "get_context", counting_get_context)
    monkeypatch.setattr(validation, "build_suite", counting_build_suite)
    return built


def test_two_partitions_in_one_process_build_one_context_and_one_suite_per_rule_list(
    daily_partitions, fresh_gx_session
):
    storage, rules_of = daily_partitions

    reports = [validate_partition(storage, SOURCE, day, rules) for day, rules in rules_of.items()]
    again = validate_partition(storage, SOURCE, "2018-12-31", rules_of["2018-12-31"])

    assert [r.success for r in [*reports, again]] == [True, True, True]
    assert [r.rows for r in reports] == [10, 50]
    assert fresh_gx_session == {"contexts": 1, "suites": 2}  # the rerun reused its day's suite
    # each partition still gets its own record and page
    for day in rules_of:
        record = json.loads(storage.get_bytes(validation_key(SOURCE, day)))
        assert record["partition"] == day and record["rows"] in (10, 50)
        assert storage.exists(data_docs_key(SOURCE, day))


def _gx_info_lines(caplog) -> list[str]:
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.name.startswith("great_expectations") and r.levelno < logging.WARNING
    ]


def test_validation_log_holds_no_great_expectations_info_lines(daily_partitions, fresh_gx_session, caplog):
    storage, rules_of = daily_partitions
    caplog.set_level(logging.INFO)  # the root logger, as a CLI or an Airflow task configures it

    for day, rules in rules_of.items():
        validate_partition(storage, SOURCE, day, rules)

    assert fresh_gx_session["contexts"] == 1  # the context was built while caplog listened
    assert _gx_info_lines(caplog) == []


def test_verbose_shows_great_expectations_info_lines(daily_partitions, fresh_gx_session, caplog):
    from filinglake.ingest.validation import set_verbose

    storage, rules_of = daily_partitions
    caplog.set_level(logging.INFO)
    set_verbose(True)
    try:
        validate_partition(storage, SOURCE, "2018-12-31", rules_of["2018-12-31"])
    finally:
        set_verbose(None)  # back to the FILINGLAKE_VERBOSE default

    assert any("ephemeral docs site" in line for line in _gx_info_lines(caplog)), _gx_info_lines(caplog)


#: a fresh process, logging at INFO like the CLI, that validates one landed SEC day
_VALIDATE_IN_A_NEW_PROCESS = """
import logging, sys
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
from filinglake.ingest.validation import validate_partition
from filinglake.sources.sec_edgar import SecEdgar
from filinglake.storage import Storage
source = SecEdgar()
validate_partition(Storage(sys.argv[1]), "sec_edgar", sys.argv[2], source.rules(source.partition(sys.argv[2])))
"""


@pytest.mark.parametrize("verbose", ["0", "1"])
def test_a_new_process_logs_great_expectations_lines_only_when_verbose(daily_partitions, verbose):
    """GX's import-time lines (~200) can only be seen in a process that has not imported GX yet."""
    storage, _ = daily_partitions
    env = {**os.environ, "FILINGLAKE_VERBOSE": verbose, "PYTHONWARNINGS": "default"}
    done = subprocess.run(
        [sys.executable, "-c", _VALIDATE_IN_A_NEW_PROCESS, storage.root, "2026-01-02"],
        capture_output=True, text=True, env=env, check=True, timeout=300,
    )
    lines = done.stderr.splitlines()
    gx_lines = [line for line in lines if "great_expectations" in line]
    ours = [line for line in lines if line.startswith("INFO filinglake.ingest.validation:")]
    assert len(ours) == 1 and "GX agrees with the row checks on 11 rules, 50 rows" in ours[0]
    if verbose == "1":
        assert len([line for line in gx_lines if line.startswith("INFO great_expectations")]) > 100
    else:
        assert gx_lines == []
        assert lines == ours  # nothing but filinglake's own line, no tqdm bar or warning either


def test_filinglake_verbose_variable_sets_the_default(monkeypatch):
    from filinglake.ingest.validation import is_verbose, set_verbose

    monkeypatch.setenv("FILINGLAKE_VERBOSE", "1")
    assert is_verbose()
    monkeypatch.setenv("FILINGLAKE_VERBOSE", "0")
    assert not is_verbose()
    set_verbose(True)
    try:
        assert is_verbose()  # an explicit switch (the CLI's -v) wins over the variable
    finally:
        set_verbose(None)
    assert not is_verbose()


# ------------------------------------------------------------------------------------------------


def _write_partition(
    storage: Storage, parsed: pa.Table, rules: list[quality.Rule], status: str = "landed"
) -> dict:
    """What the pipeline writes for the test quarter: clean, quarantine, then the manifest."""
    return land_rows(storage, SOURCE, PARTITION, parsed, rules, status)
