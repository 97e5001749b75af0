"""Row checks: blank means missing, missing passes every rule but `required`, duplicates are counted once."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa

from filinglake.ingest import row_checks as quality
from filinglake.ingest.landing import with_lineage
from filinglake.schema import PARSED_SCHEMA, conform


def rows(*dicts: dict) -> pa.Table:
    base = {"source": "t", "exchange": "X", "language": "en"}
    table = conform(pa.Table.from_pylist([{**base, **d} for d in dicts]), PARSED_SCHEMA)
    return with_lineage(table, "raw/t", datetime(2026, 1, 1, tzinfo=UTC))


RULES = [
    quality.required("native_id"),
    quality.required("company_name"),
    quality.matches("native_id", r"^\d+$", "id_digits"),
    quality.date_between("filing_date", date(2000, 1, 1), date(2020, 1, 1)),
    quality.url_on_hosts("document_url", ["docs.example.com"]),
    quality.unique(["native_id", "issuer_id"]),
]


def test_reasons_counts_and_duplicates() -> None:
    table = rows(
        {"filing_id": "t:1", "native_id": "1", "issuer_id": "a", "company_name": "A", "filing_date": date(2010, 1, 1),
         "document_url": "https://docs.example.com/1"},
        {"filing_id": "t:1", "native_id": "1", "issuer_id": "a", "company_name": "A", "filing_date": date(2010, 1, 1),
         "document_url": "https://docs.example.com/1"},  # exact duplicate: counted, not written twice
        {"filing_id": "t:2", "native_id": "2", "issuer_id": "a", "company_name": "  ", "filing_date": date(2030, 1, 1),
         "document_url": "https://docs.example.com.evil.net/2"},  # blank name, future date, foreign host
        {"filing_id": "t:x", "native_id": "x", "issuer_id": "b", "company_name": "B", "filing_date": None,
         "document_url": None},  # bad id; missing date and URL pass their rules (required catches missing)
        {"filing_id": "t:3", "native_id": "3", "issuer_id": "c", "company_name": "C1"},
        {"filing_id": "t:3", "native_id": "3", "issuer_id": "c", "company_name": "C2"},  # same key, other content
    )
    result = quality.check_rows(table, RULES)
    assert result.counts() == {"rows_in": 6, "rows_written": 1, "duplicates": 1, "quarantined": 4}
    assert result.failures == {
        "native_id_present": 0,
        "company_name_present": 1,
        "id_digits": 1,
        "filing_date_plausible": 1,
        "document_url_on_source_host": 1,
        "key_unique": 2,
    }
    reasons = dict(zip(result.quarantine["native_id"].to_pylist(), result.quarantine["failed_checks"].to_pylist(),
                       strict=True))
    assert reasons["2"] == ["company_name_present", "filing_date_plausible", "document_url_on_source_host"]
    assert reasons["x"] == ["id_digits"]
    assert result.clean["native_id"].to_pylist() == ["1"]


def test_duplicate_detection_treats_nulls_as_equal_and_keeps_first() -> None:
    table = rows(
        {"filing_id": "t:9", "native_id": "9", "issuer_id": "z", "company_name": None, "title": "first"},
        {"filing_id": "t:9", "native_id": "9", "issuer_id": "z", "company_name": None, "title": "first"},
        {"filing_id": "t:9", "native_id": "9", "issuer_id": "z", "company_name": None, "title": "other"},
    )
    kept, dropped = quality.drop_exact_duplicates(table)
    assert dropped == 1 and kept["title"].to_pylist() == ["first", "other"]
