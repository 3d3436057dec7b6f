"""OpenRTB 2.x logs: one JSON object a line holding a bid request and the response it got.

Accepted shapes: ``{"request": {...}, "response": {...}}`` (also ``bidrequest`` /
``bidresponse``), or a bid request with its response under ``bidresponse``. Optional top-level
``timestamp`` / ``ts`` (epoch seconds or ms, or ISO 8601) and ``exchange``. One row per
impression; its price is the highest bid on it (``seatbid[].bid[].price`` with that ``impid``),
the clearing price of a first-price auction; an impression nobody bid on is kept unfilled.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from ssmas.pricing.model.importers.common import (
    ImportReport,
    Rows,
    calendar,
    finish,
    geo,
    json_records,
    obj,
    parse_time,
)

MAX_CPM = 1000.0
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)  # synthetic time of lines without one (file order)
# OpenRTB 2.x device types (list 5.21): 1 mobile / tablet, 2 PC, 4 phone, 5 tablet.
DEVICE_TYPES = {1: "mobile", 2: "desktop", 4: "mobile", 5: "tablet"}


def _format(imp: dict[str, Any]) -> str | None:
    if imp.get("instl") == 1:
        return "interstitial"
    for name in ("video", "native", "banner"):
        if isinstance(imp.get(name), dict):
            return name
    return None


def _size(imp: dict[str, Any]) -> str | None:
    banner = obj(imp.get("banner"))
    w, h = banner.get("w"), banner.get("h")
    if not (isinstance(w, int) and isinstance(h, int)):
        formats = banner.get("format")
        first = obj(formats[0]) if isinstance(formats, list) and formats else {}
        w, h = first.get("w"), first.get("h")
    return f"{w}x{h}" if isinstance(w, int) and isinstance(h, int) else None


def _bids(response: dict[str, Any]) -> tuple[dict[str, float], str | None]:
    """Highest valid price per impression id, or an error."""
    best: dict[str, float] = {}
    for seat in response.get("seatbid") or []:
        for bid in obj(seat).get("bid") or []:
            bid = obj(bid)
            price = bid.get("price")
            if isinstance(price, bool) or not isinstance(price, int | float):
                return {}, f"malformed price: {price!r}"
            if not math.isfinite(price) or not 0.0 <= price <= MAX_CPM:
                return {}, f"price out of range: {price!r} not in [0, {MAX_CPM:g}]"
            impid = str(bid.get("impid", ""))
            best[impid] = max(best.get(impid, 0.0), float(price))
    return best, None


def _parts(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    request = obj(record.get("request") or record.get("bidrequest"))
    if not request and "imp" in record:
        request = record
    response = obj(record.get("response") or record.get("bidresponse"))
    return request, response


def parse_openrtb(lines: Iterable[tuple[int, str]], report: ImportReport) -> pa.Table:
    """Rows of an OpenRTB request / response log; bad lines go to ``report``."""
    rows = Rows()
    for number, record in json_records(lines, report):
        request, response = _parts(record)
        imps = request.get("imp")
        if not isinstance(imps, list) or not imps:
            report.reject(number, "no impressions: the bid request has no imp array")
            continue
        best, error = _bids(response)
        if error:
            report.reject(number, error)
            continue
        currency = str(response.get("cur") or request.get("cur", ["USD"])[0] or "USD")
        if not report.same_currency(number, currency):
            continue
        ts = parse_time(record.get("timestamp", record.get("ts")))
        if ts is None:
            report.synthetic_time = True
        when = calendar(ts) if ts else {"ts": ORIGIN + timedelta(seconds=number)}
        site = obj(request.get("site")) or obj(request.get("app"))
        device = obj(request.get("device"))
        shared = {
            **when,
            **geo(obj(device.get("geo")).get("country")),
            "status": "ok",
            "domain": site.get("domain") or site.get("bundle"),
            "publisher_id": obj(site.get("publisher")).get("id"),
            "device_category": DEVICE_TYPES.get(device.get("devicetype", 0)),
            "auction_type": {1: "first_price", 2: "second_price"}.get(request.get("at", 0)),
            "ad_exchange": record.get("exchange"),
            "source_row": number,
        }
        for imp in imps:
            imp = obj(imp)
            impid = str(imp.get("id", ""))
            floor = imp.get("bidfloor")
            price = best.get(impid)
            rows.add({
                **shared,
                "impression_id": f"{request.get('id', number)}:{impid}",
                "ad_unit_id": imp.get("tagid"),
                "format": _format(imp),
                "ad_size": _size(imp),
                "floor_cpm": float(floor) if isinstance(floor, int | float) else None,
                "clearing_cpm": price,
                "filled": price is not None,
            })  # fmt: skip
    return finish(rows, report)
