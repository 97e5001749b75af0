"""A truncated index never lands: SEC indexes only grow, so a re-landing with fewer rows is refused unless forced.

The server cuts the real 1993Q4 quarterly master in half and sends a consistent Content-Length: nothing
at the HTTP level says it is short. The landed partition must stay as it was, the cut bytes stay in
raw/ marked as not landed, and only ``force=True`` replaces the partition (its cut-short last row
quarantined, not dropped).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.replay import ReplayServer, Reply
from fakes.sec_edgar import sec_fixture_map

from filinglake.config import Settings
from filinglake.ingest.landing import Context, ShrinkingPartition, fetch_partition, write_partition
from filinglake.manifests import read_committed
from filinglake.storage import Storage, manifest_key

QUARTER = "1993Q4"
INDEX = "full-index/1993/QTR4/master.idx"


def land(settings: Settings, partition: str = QUARTER, *, force: bool = False) -> dict:
    ctx = Context.build("sec_edgar", partition, settings)
    return write_partition(ctx, fetch_partition(ctx), force=force)


def data_lines(data: bytes) -> list[bytes]:
    """Non-blank lines after the dashed line (the oracle, independent of the parser)."""
    lines = data.split(b"\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(b"-----"))
    return [line for line in lines[start + 1:] if line.strip()]


def test_index_cut_in_half_is_refused_and_kept_as_not_landed(
    settings: Settings, sec_server: ReplayServer, fixtures_dir: Path
) -> None:
    storage = Storage.from_settings(settings)
    real = sec_fixture_map(fixtures_dir)[INDEX].read_bytes()
    full_rows = len(data_lines(real))
    assert land(settings)["rows_written"] == full_rows == 20
    manifest_before = storage.get_bytes(manifest_key("sec_edgar", QUARTER))

    cut = real[: len(real) * 3 // 4]  # still past the header; ends in the middle of a row
    assert not cut.endswith(b"\n")
    cut_rows = len(data_lines(cut))
    sec_server.routes[("GET", f"/Archives/edgar/{INDEX}")] = Reply(body=cut)  # Content-Length == len(cut)

    with pytest.raises(ShrinkingPartition) as refused:
        land(settings)
    message = str(refused.value)
    assert f"has {cut_rows:,} rows" in message and f"the {full_rows:,} rows landed" in message
    assert "force" in message and "\n" not in message
    assert storage.get_bytes(manifest_key("sec_edgar", QUARTER)) == manifest_before
    assert read_committed(storage, "sec_edgar", QUARTER).num_rows == full_rows

    # The cut bytes stay in raw/, marked as not landed; the landed version is not marked.
    metas = {key: storage.get_json(key) for key in storage.list("raw/") if key.endswith(".meta.json")}
    marked = {meta["size"]: meta.get("not_landed") for meta in metas.values()}
    assert marked[len(real)] is None
    assert f"{cut_rows:,} rows, fewer than the {full_rows:,} landed" in marked[len(cut)]

    # Forced, the cut index lands: its last, cut-short row is quarantined, not dropped.
    forced = land(settings, force=True)
    assert forced["forced"] is True
    assert (forced["rows_in"], forced["rows_written"], forced["quarantined"]) == (cut_rows, cut_rows - 1, 1)
    quarantined = read_committed(storage, "sec_edgar", QUARTER, "quarantine")
    assert quarantined["failed_checks"].to_pylist()[0]
    cut_meta = next(m for m in (storage.get_json(k) for k in metas) if m["size"] == len(cut))
    assert "not_landed" not in cut_meta  # landed now


def test_daily_master_without_a_final_newline_lands_every_row(
    settings: Settings, sec_server: ReplayServer, fixtures_dir: Path
) -> None:
    real = sec_fixture_map(fixtures_dir)["daily-index/2018/QTR4/master.20181231.idx"].read_bytes()
    sec_server.routes[("GET", "/Archives/edgar/daily-index/2018/QTR4/master.20181231.idx")] = Reply(
        body=real.rstrip(b"\n"))  # real daily masters end without one
    manifest = land(settings, "2018-12-31")
    assert (manifest["rows_in"], manifest["rows_written"], manifest["quarantined"]) == (10, 10, 0)
