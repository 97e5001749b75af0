"""A business day is never silently a holiday; a closed period is never "not posted yet".

A missing SEC index means "empty" only when SEC is known to have been closed: a weekend, a US federal
holiday (pandas' calendar), or the quarter folder's ``index.json`` listing later days and not this
one. Only the current quarter, or a day within its posting window, may be "not posted yet"
(retried); anything older fails at once with the URLs tried. Listings here are small hand-written
``index.json`` bodies in SEC's shape; the indexes are the real captured files.
"""

from __future__ import annotations

from datetime import date

import pytest
from fakes.replay import ReplayServer, Reply

from filinglake.config import Settings
from filinglake.errors import BadResponse, NotYetPublished
from filinglake.ingest.landing import Context, ShrinkingPartition, fetch_partition, write_partition
from filinglake.manifests import read_committed
from filinglake.sources import make_client
from filinglake.sources.base import FetchResult
from filinglake.sources.sec_edgar import IndexMissing, SecEdgar, sec_closed
from filinglake.storage import Storage

ARCHIVE = "/Archives/edgar"


def listing(*days: str) -> Reply:
    """A daily-index quarter folder's index.json naming the master indexes of ``days`` (YYYYMMDD)."""
    items = [{"name": f"master.{d}.idx", "type": "file"} for d in days]
    return Reply.json({"directory": {"name": "daily-index/", "item": items}})


def fetch(settings: Settings, partition_id: str, today: date) -> FetchResult:
    source = SecEdgar()
    with make_client("sec_edgar", settings) as client:
        return source.fetch(source.partition(partition_id), client, settings, today=today)


def test_old_business_day_without_an_index_fails_at_once_naming_the_urls(
    settings: Settings, sec_server: ReplayServer
) -> None:
    # Thursday 2018-12-27: a business day; SEC's listing is unreachable (404), the day is long past.
    with pytest.raises(IndexMissing) as failed:
        fetch(settings, "2018-12-27", today=date(2019, 2, 1))
    message = str(failed.value)
    folder = f"{sec_server.sec_base_url}/daily-index/2018/QTR4"
    for url in (f"{folder}/master.20181227.idx", f"{folder}/master.20181227.idx.gz", f"{folder}/index.json"):
        assert f"{url} → 404" in message
    assert "\n" not in message
    assert isinstance(failed.value, BadResponse)  # the retry policy fails it at once


def test_recent_business_day_without_an_index_is_not_posted_yet(settings: Settings) -> None:
    with pytest.raises(NotYetPublished, match="not posted yet"):
        fetch(settings, "2018-12-27", today=date(2018, 12, 28))


def test_friday_waits_until_the_next_business_days_index_could_show_a_closure(settings: Settings) -> None:
    # Friday 2018-12-28 without an index and no later day listed: on Monday it may still be a closure
    # that SEC's listing shows once Monday's index is posted; by Thursday it is a failure.
    with pytest.raises(NotYetPublished):
        fetch(settings, "2018-12-28", today=date(2018, 12, 31))
    with pytest.raises(IndexMissing):
        fetch(settings, "2018-12-28", today=date(2019, 1, 3))


def test_federal_holiday_is_empty_without_asking_the_listing(settings: Settings, sec_server: ReplayServer) -> None:
    result = fetch(settings, "2018-12-25", today=date(2019, 2, 1))
    assert result.files == [] and "Christmas Day" in result.empty_reason
    # even on the day itself: a holiday is known, not "not posted yet"
    thanksgiving = fetch(settings, "2026-11-26", today=date(2026, 11, 26))
    assert "Thanksgiving" in thanksgiving.empty_reason
    assert not [r for r in sec_server.requests if r.path.endswith("index.json")]
    assert sec_closed(date(2021, 6, 18)) == "US federal holiday: Juneteenth National Independence Day"
    assert sec_closed(date(2018, 12, 24)) is None  # that closure (an executive order) is in no calendar


def test_closure_known_from_the_listing(settings: Settings, sec_server: ReplayServer) -> None:
    # 2018-12-24 (Monday, closed by executive order): the quarter lists 12-21 and 12-26, not 12-24.
    sec_server.routes[("GET", f"{ARCHIVE}/daily-index/2018/QTR4/index.json")] = listing("20181221", "20181226")
    result = fetch(settings, "2018-12-24", today=date(2019, 2, 1))
    assert result.files == [] and "master.20181226.idx" in result.empty_reason
    assert f"{sec_server.sec_base_url}/daily-index/2018/QTR4/index.json → 200" in result.notes["urls_tried"]


def test_closure_on_a_quarters_last_day_is_read_from_the_next_quarters_listing(
    settings: Settings, sec_server: ReplayServer
) -> None:
    # Friday 2019-03-29 without an index: Q1 lists nothing later, Q2 lists 2019-04-01.
    sec_server.routes[("GET", f"{ARCHIVE}/daily-index/2019/QTR1/index.json")] = listing("20190327", "20190328")
    sec_server.routes[("GET", f"{ARCHIVE}/daily-index/2019/QTR2/index.json")] = listing("20190401")
    result = fetch(settings, "2019-03-29", today=date(2019, 5, 1))
    assert "master.20190401.idx" in result.empty_reason


def test_listing_that_names_the_missing_day_is_an_error(settings: Settings, sec_server: ReplayServer) -> None:
    sec_server.routes[("GET", f"{ARCHIVE}/daily-index/2018/QTR4/index.json")] = listing("20181227", "20181228")
    with pytest.raises(BadResponse, match="lists the daily index of 2018-12-27"):
        fetch(settings, "2018-12-27", today=date(2019, 2, 1))


def test_closed_quarter_without_an_index_fails_at_once(settings: Settings, sec_server: ReplayServer) -> None:
    # The archive has 2015 Q4's xbrl.idx but no master index: that quarter is long closed.
    with pytest.raises(IndexMissing) as failed:
        fetch(settings, "2015Q4", today=date(2026, 12, 3))
    folder = f"{sec_server.sec_base_url}/full-index/2015/QTR4"
    assert f"{folder}/master.gz → 404" in str(failed.value) and f"{folder}/master.idx → 404" in str(failed.value)
    # the current quarter may still be "not posted yet"
    with pytest.raises(NotYetPublished):
        fetch(settings, "2026Q4", today=date(2026, 10, 1))


def test_landed_day_is_never_replaced_by_an_empty_one(settings: Settings, sec_server: ReplayServer) -> None:
    storage = Storage.from_settings(settings)
    ctx = Context.build("sec_edgar", "2018-12-31", settings)
    first = write_partition(ctx, fetch_partition(ctx))
    assert first["rows_written"] == 10
    assert first["notes"]["urls_tried"] == [f"{sec_server.sec_base_url}/daily-index/2018/QTR4/master.20181231.idx → 200"]

    # Later the index is gone and the listings make the day look like a closure.
    sec_server.routes.pop(("GET", f"{ARCHIVE}/daily-index/2018/QTR4/master.20181231.idx"))
    sec_server.routes[("GET", f"{ARCHIVE}/daily-index/2018/QTR4/index.json")] = listing("20181228")
    sec_server.routes[("GET", f"{ARCHIVE}/daily-index/2019/QTR1/index.json")] = listing("20190102")
    fetched = fetch_partition(ctx)
    assert fetched["raw"] == [] and fetched["empty_reason"]
    with pytest.raises(ShrinkingPartition, match="is empty .*fewer than the 10 rows landed"):
        write_partition(ctx, fetched)
    assert read_committed(storage, "sec_edgar", "2018-12-31").num_rows == 10


def test_weekend_landing_records_the_urls_tried(settings: Settings, sec_server: ReplayServer) -> None:
    ctx = Context.build("sec_edgar", "2018-12-29", settings)
    manifest = write_partition(ctx, fetch_partition(ctx))
    folder = f"{sec_server.sec_base_url}/daily-index/2018/QTR4"
    assert manifest["status"] == "empty" and "weekend" in manifest["empty_reason"]
    assert manifest["notes"]["urls_tried"] == [f"{folder}/master.20181229.idx → 404",
                                               f"{folder}/master.20181229.idx.gz → 404"]
