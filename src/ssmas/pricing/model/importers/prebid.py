"""Prebid.js analytics events as JSON lines: ``auctionEnd`` and ``bidWon``.

Each line is ``{"eventType": "auctionEnd" | "bidWon", "args": {...}}`` (``event`` is accepted
for ``eventType``; other events are skipped, not rejected). One row per ad unit of an
``auctionEnd`` (``args.adUnits[].code``); the ``bidWon`` with the same ``auctionId`` and
``adUnitCode`` gives its price (``cpm``) and marks it filled. A ``bidWon`` whose auction never
ended in the log still becomes a filled row.
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
    json_records,
    obj,
)
from ssmas.pricing.model.importers.common import parse_time as _time

MAX_CPM = 1000.0
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
MEDIA = ("banner", "video", "native")


def _unit_fields(unit: dict[str, Any]) -> dict[str, Any]:
    media = obj(unit.get("mediaTypes"))
    fmt = next((m for m in MEDIA if m in media), None)
    sizes = obj(media.get("banner")).get("sizes") or unit.get("sizes")
    first = sizes[0] if isinstance(sizes, list) and sizes else None
    size = f"{first[0]}x{first[1]}" if isinstance(first, list) and len(first) == 2 else None
    return {"format": fmt, "ad_size": size}


def _domain(args: dict[str, Any]) -> str | None:
    requests = args.get("bidderRequests")
    if isinstance(requests, list) and requests:
        referer = obj(obj(requests[0]).get("refererInfo"))
        domain = referer.get("domain")
        if isinstance(domain, str):
            return domain
        page = referer.get("page") or referer.get("topmostLocation")
        if isinstance(page, str) and "//" in page:
            return page.split("//", 1)[1].split("/", 1)[0] or None
    return None


def parse_prebid(lines: Iterable[tuple[int, str]], report: ImportReport) -> pa.Table:
    """Rows of a Prebid analytics log; bad lines go to ``report``."""
    units: dict[tuple[str, str], dict[str, Any]] = {}
    for number, record in json_records(lines, report):
        kind = record.get("eventType", record.get("event"))
        args = obj(record.get("args"))
        auction = args.get("auctionId")
        if kind not in ("auctionEnd", "bidWon"):
            continue
        if not isinstance(auction, str) or not auction:
            report.reject(number, f"no auctionId: {kind} without args.auctionId")
            continue
        if kind == "auctionEnd":
            ts = _time(args.get("timestamp")) or _time(args.get("auctionEnd"))
            ad_units = args.get("adUnits")
            if not isinstance(ad_units, list) or not ad_units:
                report.reject(number, "no ad units: auctionEnd without args.adUnits")
                continue
            for unit in ad_units:
                code = obj(unit).get("code")
                if isinstance(code, str):
                    row = units.setdefault((auction, code), {"source_row": number})
                    row.update(_unit_fields(obj(unit)), domain=_domain(args), ts=ts)
                    row["source_row"] = min(row["source_row"], number)
            continue
        code, cpm = args.get("adUnitCode"), args.get("cpm")
        if not isinstance(code, str):
            report.reject(number, "no adUnitCode: bidWon without args.adUnitCode")
            continue
        if isinstance(cpm, bool) or not isinstance(cpm, int | float):
            report.reject(number, f"malformed price: cpm {cpm!r}")
            continue
        if not math.isfinite(cpm) or not 0.0 <= cpm <= MAX_CPM:
            report.reject(number, f"price out of range: {cpm!r} not in [0, {MAX_CPM:g}]")
            continue
        currency = str(args.get("currency") or "USD")
        if not report.same_currency(number, currency):
            continue
        row = units.setdefault((auction, code), {"source_row": number})
        row["clearing_cpm"] = float(cpm)
        if row.get("ts") is None:
            row["ts"] = _time(args.get("responseTimestamp")) or _time(args.get("requestTimestamp"))
        if row.get("format") is None and args.get("mediaType") in MEDIA:
            row["format"] = args["mediaType"]
    rows = Rows()
    for (auction, code), row in sorted(units.items(), key=lambda kv: kv[1]["source_row"]):
        ts = row.pop("ts", None)
        if ts is None:
            report.synthetic_time = True
        when = calendar(ts) if ts else {"ts": ORIGIN + timedelta(seconds=row["source_row"])}
        price = row.get("clearing_cpm")
        rows.add({**row, **when, "impression_id": f"{auction}:{code}", "ad_unit_id": code,
                  "status": "ok", "filled": price is not None})  # fmt: skip
    return finish(rows, report)
