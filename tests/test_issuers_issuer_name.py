"""``issuers.issuer_name``: the name the source's latest archived reference list gives the issuer, beside
the filed ``company_name``; kept exact incrementally, and added to an issuers table written before it.

Real inputs: SEC's company_tickers.json (2024-05) and the rows of three CIKs of the real 2016Q3 master.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from filinglake.config import Settings
from filinglake.ingest import landing as pipeline
from filinglake.publish.filings import FILINGS
from filinglake.publish.issuers import ISSUERS, build_issuers
from filinglake.publish.references import issuer_references
from filinglake.publish.run import publish, read_published
from filinglake.schema import ISSUERS_SCHEMA
from filinglake.sources.sec_edgar import SEC_TICKERS_NAME, SEC_TICKERS_SOURCE
from filinglake.storage import Storage

COMPANY_TICKERS = "edgar/api/company_tickers.json"
QUARTER_2016 = "edgar/full-index/2016/QTR3/master.gz"
#: Apple, Morgan Stanley, and an insider filer no list names
CIKS = ("320193", "895421", "1000032")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(storage=(tmp_path / "lake").as_uri())


@pytest.fixture
def storage(settings: Settings) -> Storage:
    return Storage.from_settings(settings)


def archive_tickers(storage: Storage, day: str, data: bytes) -> None:
    storage.archive_raw(SEC_TICKERS_SOURCE, day, SEC_TICKERS_NAME, data, "https://www.sec.gov/files/company_tickers.json")


def land_2016q3(settings: Settings, fixtures_dir: Path, ciks: tuple[str, ...]) -> None:
    """The real 2016Q3 master's preamble and the rows of ``ciks``, landed as partition 2016Q3."""
    text = gzip.decompress((fixtures_dir / QUARTER_2016).read_bytes())
    head, _, body = text.partition(b"-" * 80 + b"\n")
    wanted = re.compile(rb"^(" + b"|".join(c.encode() for c in ciks) + rb")\|")
    lines = [ln for ln in body.split(b"\n") if wanted.match(ln)]
    ctx = pipeline.Context.build("sec_edgar", "2016Q3", settings)
    data = head + b"-" * 80 + b"\n" + b"".join(ln + b"\n" for ln in lines)
    ref = ctx.storage.archive_raw("sec_edgar", "2016Q3", "master.idx", data, "https://example.invalid/master.idx")
    pipeline.write_partition(ctx, {"raw": [ref.to_dict()]})


def issuers(storage: Storage) -> dict[str, dict]:
    return {r["issuer_id"]: r for r in read_published(storage, ISSUERS).to_pylist()}


def assert_issuers_match_a_recomputation(storage: Storage) -> None:
    filings = read_published(storage, FILINGS)
    expected = build_issuers(filings, issuer_references(storage, sorted(set(filings["source"].to_pylist()))))
    order = [("source", "ascending"), ("issuer_id", "ascending")]
    assert read_published(storage, ISSUERS).sort_by(order).to_pylist() == expected.sort_by(order).to_pylist()


def test_issuers_carry_the_name_of_the_latest_reference_list(settings, storage, fixtures_dir) -> None:
    original = (fixtures_dir / COMPANY_TICKERS).read_bytes()
    archive_tickers(storage, "2024-05-01", original)
    land_2016q3(settings, fixtures_dir, CIKS)

    publish(storage, settings)

    rows = issuers(storage)
    assert (rows["320193"]["company_name"], rows["320193"]["issuer_name"]) == ("APPLE INC", "Apple Inc.")
    assert rows["895421"]["issuer_name"] == "MORGAN STANLEY"
    assert rows["1000032"]["issuer_name"] is None  # no list names this filer
    assert_issuers_match_a_recomputation(storage)

    # a later list renames Apple (hand-made): the issuer takes the latest list's name once it is rebuilt
    renamed = json.loads(original)
    for entry in renamed.values():
        if entry["cik_str"] == 320193:
            entry["title"] = "Apple Computer Inc."
    archive_tickers(storage, "2024-06-03", json.dumps(renamed).encode())
    publish(storage, settings, rebuild_issuers=["sec_edgar"])  # what a changed list triggers (publish --fetch-tickers)

    assert issuers(storage)["320193"]["issuer_name"] == "Apple Computer Inc."
    assert_issuers_match_a_recomputation(storage)
    # filings keep the name of their date's list version (the 2016 filings lie before both: the nearest, 2024-05)
    assert {r["issuer_name"] for r in read_published(storage, FILINGS).to_pylist()
            if r["issuer_id"] == "320193"} == {"Apple Inc."}


def test_an_issuers_table_written_before_issuer_name_gains_it_filled(settings, storage, fixtures_dir) -> None:
    from deltalake import write_deltalake

    from filinglake.publish import delta

    archive_tickers(storage, "2024-05-01", (fixtures_dir / COMPANY_TICKERS).read_bytes())
    land_2016q3(settings, fixtures_dir, CIKS)
    publish(storage, settings)
    current = read_published(storage, ISSUERS)
    # the table as the release before issuer_name wrote it, with the same rows
    legacy = ISSUERS_SCHEMA.remove(ISSUERS_SCHEMA.get_field_index("issuer_name"))
    table = delta.open_table(storage, ISSUERS)
    write_deltalake(table, delta.conform(current, legacy), mode="overwrite", schema_mode="overwrite")
    assert "issuer_name" not in delta.open_table(storage, ISSUERS).schema().to_arrow().names

    publish(storage, settings)  # nothing new to publish: the issuers table is still brought up to its schema

    rows = issuers(storage)
    assert (rows["320193"]["issuer_name"], rows["1000032"]["issuer_name"]) == ("Apple Inc.", None)
    assert_issuers_match_a_recomputation(storage)
