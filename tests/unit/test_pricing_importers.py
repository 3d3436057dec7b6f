"""Auction-log importers: iPinYou, OpenRTB and Prebid samples become lake rows, bad rows are
rejected with their reason and the good ones kept."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ssmas.pricing.model.importers import (
    IMPORT_MARKER,
    LogImportError,
    import_log,
    parse_log,
    read_imported_lake,
)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ipinyou_rows_keep_the_good_lines_and_say_why_the_others_went(tmp_path: Path) -> None:
    log = write(
        tmp_path / "log.txt",
        [
            "0\t51\t0.000154\t1",
            "1\t87\t0.000140\t2",
            "0\t301\t0.0003\t1",  # over the 300 cap
            "0\t-1\t0.0003\t1",
            "0\tabc\t0.0003\t1",
            "0\t20\t0.0003",  # three columns
            "2\t20\t0.0003\t1",
            "0\t20\t1.5\t1",
            "",  # blank: not a row
            "0\t300\t0.01\t3",
            "0\t40\t0.01\tnull",  # unknown exchange: kept, exchange null
            "0\t40\t0.01\tx",
        ],
    )
    table, report = parse_log("ipinyou", log)
    assert report.rows_read == 11 and report.rows_kept == 4 and report.rows_rejected == 7
    assert report.reasons == {
        "price out of range": 2,
        "malformed price": 1,
        "wrong column count": 1,
        "malformed click": 1,
        "malformed predicted CTR": 1,
        "malformed exchange id": 1,
    }
    assert [r.line for r in report.rejected] == [3, 4, 5, 6, 7, 8, 12]
    assert "expected 4, got 3" in report.rejected[3].reason
    assert table.column("clearing_cpm").to_pylist() == [51.0, 87.0, 300.0, 40.0]
    assert table.column("ad_exchange").to_pylist() == ["1", "2", "3", None]
    assert table.column("clicked").to_pylist() == [False, True, False, False]
    assert table.column("source_row").to_pylist() == [1, 2, 10, 11]
    assert table.column("historical_ctr_avg").to_pylist()[0] == pytest.approx(0.000154)
    assert set(report.filled_columns) == {"historical_ctr_avg", "ad_exchange", "clearing_cpm",
                                          "clicked"}  # fmt: skip
    assert "device_category" in report.missing_columns and report.currency == "CNY fen"


def test_import_writes_hour_partitions_and_the_marker_and_refuses_a_full_lake(
    tmp_path: Path,
) -> None:
    lines = [f"0\t{i % 300}\t0.001\t{1 + i % 3}" for i in range(5000)]
    log = write(tmp_path / "log.txt", [*lines, "garbage"])
    lake = tmp_path / "lake"
    seen: list[int] = []
    report, written = import_log("ipinyou", log, lake, seen.append)
    assert sum(seen) == log.stat().st_size
    assert report.rows_kept == 5000 and report.rows_rejected == 1
    assert len(written) == 2  # 5000 synthetic seconds span two hours
    assert all("raw/impressions/year=2013/month=06/day=06/hour=" in str(p) for p in written)
    assert sum(pq.read_metadata(p).num_rows for p in written) == 5000
    marker = json.loads((lake / IMPORT_MARKER).read_text())
    assert marker["format"] == "ipinyou" and marker["rows_rejected"] == 1
    back = read_imported_lake(lake)
    assert back.column("source_row").to_pylist() == list(range(1, 5001))
    with pytest.raises(LogImportError, match="already holds"):
        import_log("ipinyou", log, lake)


def test_nothing_importable_and_unknown_formats_are_errors(tmp_path: Path) -> None:
    log = write(tmp_path / "bad.txt", ["a\tb", "c"])
    with pytest.raises(LogImportError, match="no row"):
        import_log("ipinyou", log, tmp_path / "lake")
    with pytest.raises(LogImportError, match="unknown format"):
        parse_log("csv", log)
    with pytest.raises(LogImportError, match="no such file"):
        parse_log("ipinyou", tmp_path / "missing.txt")


OPENRTB = [
    {  # two impressions, one bid on the first
        "timestamp": 1717236000,
        "exchange": "adx",
        "request": {
            "id": "r1",
            "at": 1,
            "imp": [
                {"id": "1", "tagid": "top", "bidfloor": 0.5, "banner": {"w": 300, "h": 250}},
                {"id": "2", "tagid": "vid", "video": {"mimes": ["video/mp4"]}},
            ],
            "site": {"domain": "example.es", "publisher": {"id": "pub-9"}},
            "device": {"devicetype": 4, "geo": {"country": "ESP"}},
            "user": {"id": "u"},
        },
        "response": {
            "id": "r1",
            "cur": "EUR",
            "seatbid": [{"bid": [{"impid": "1", "price": 1.2}, {"impid": "1", "price": 1.7}]}],
        },
    },
    {  # a bare request carrying its response, an app, no time
        "id": "r2",
        "imp": [{"id": "a", "instl": 1, "banner": {"format": [{"w": 320, "h": 480}]}}],
        "app": {"bundle": "com.game", "publisher": {"id": "pub-2"}},
        "device": {"devicetype": 5, "geo": {"country": "MEX"}},
        "bidresponse": {"cur": "EUR", "seatbid": [{"bid": [{"impid": "a", "price": 3}]}]},
    },
    {"request": {"id": "r3", "imp": []}},
    {"request": {"id": "r4", "imp": [{"id": "1"}]},
     "response": {"cur": "EUR", "seatbid": [{"bid": [{"impid": "1", "price": -2}]}]}},
    {"request": {"id": "r5", "imp": [{"id": "1"}]},
     "response": {"cur": "USD", "seatbid": [{"bid": [{"impid": "1", "price": 2}]}]}},
    {"request": {"id": "r6", "imp": [{"id": "1"}]},
     "response": {"cur": "EUR", "seatbid": [{"bid": [{"impid": "1", "price": "2"}]}]}},
]  # fmt: skip


def test_openrtb_requests_and_responses_become_one_row_per_impression(tmp_path: Path) -> None:
    log = write(tmp_path / "rtb.jsonl", [json.dumps(r) for r in OPENRTB] + ["{not json"])
    table, report = parse_log("openrtb", log)
    assert report.rows_read == 7 and report.rows_kept == 3
    assert report.reasons == {"no impressions": 1, "price out of range": 1,
                              "other currency": 1, "malformed price": 1,
                              "malformed line": 1}  # fmt: skip
    rows = table.to_pylist()
    first, video, app = rows
    assert first["impression_id"] == "r1:1" and first["clearing_cpm"] == pytest.approx(1.7)
    assert first["filled"] and first["floor_cpm"] == pytest.approx(0.5)
    assert (first["format"], first["ad_size"], first["ad_unit_id"]) == ("banner", "300x250", "top")
    assert (first["domain"], first["publisher_id"], first["ad_exchange"]) == (
        "example.es",
        "pub-9",
        "adx",
    )
    assert (first["country"], first["country_tier"], first["device_category"]) == (
        "ES",
        1,
        "mobile",
    )
    assert (first["hour_of_day"], first["day_of_week"]) == (10, 6)  # 2024-06-01 10:00 UTC, Sat
    assert first["auction_type"] == "first_price"
    assert video["format"] == "video" and not video["filled"] and video["clearing_cpm"] is None
    assert app["format"] == "interstitial" and app["ad_size"] == "320x480"
    assert (app["domain"], app["device_category"], app["country_tier"]) == ("com.game", "tablet", 3)
    assert app["hour_of_day"] is None and report.synthetic_time
    assert report.currency == "EUR" and "user_engagement_score" in report.missing_columns


PREBID = [
    {"eventType": "auctionInit", "args": {"auctionId": "A"}},  # skipped, not rejected
    {
        "eventType": "auctionEnd",
        "args": {
            "auctionId": "A",
            "timestamp": 1717236000000,
            "adUnits": [
                {"code": "top", "mediaTypes": {"banner": {"sizes": [[728, 90]]}}},
                {"code": "side", "mediaTypes": {"video": {"context": "outstream"}}},
            ],
            "bidderRequests": [{"refererInfo": {"page": "https://news.example.fr/a/b"}}],
        },
    },
    {"eventType": "bidWon", "args": {"auctionId": "A", "adUnitCode": "top", "cpm": 2.5,
                                     "currency": "USD", "bidderCode": "appnexus"}},
    {"event": "bidWon", "args": {"auctionId": "B", "adUnitCode": "x", "cpm": 0.8,
                                 "mediaType": "native", "responseTimestamp": 1717239600000}},
    {"eventType": "bidWon", "args": {"auctionId": "C", "adUnitCode": "y", "cpm": 5000}},
    {"eventType": "bidWon", "args": {"adUnitCode": "y", "cpm": 1}},
    {"eventType": "bidWon", "args": {"auctionId": "D", "adUnitCode": "y", "cpm": None}},
    {"eventType": "auctionEnd", "args": {"auctionId": "E"}},
]  # fmt: skip


def test_prebid_auction_end_and_bid_won_events_join_per_ad_unit(tmp_path: Path) -> None:
    log = write(tmp_path / "pb.jsonl", [json.dumps(r) for r in PREBID] + ["[1, 2]"])
    table, report = parse_log("prebid", log)
    assert report.rows_read == 9 and report.rows_kept == 3
    assert report.reasons == {"price out of range": 1, "no auctionId": 1, "malformed price": 1,
                              "no ad units": 1, "malformed line": 1}  # fmt: skip
    top, side, native = table.to_pylist()
    assert (top["impression_id"], top["clearing_cpm"], top["filled"]) == ("A:top", 2.5, True)
    assert (top["format"], top["ad_size"], top["domain"]) == ("banner", "728x90", "news.example.fr")
    assert top["bidder"] is None  # the winner is an outcome, never imported as a feature
    assert (top["hour_of_day"], top["day_of_week"]) == (10, 6)
    assert side["format"] == "video" and not side["filled"]
    assert native["format"] == "native" and native["hour_of_day"] == 11 and native["filled"]
    assert report.currency == "USD" and not report.synthetic_time
