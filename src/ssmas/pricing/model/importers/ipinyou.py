"""iPinYou RTB logs in the four-column form of the rtbcontrol sample (tab-separated, no
header): click, winning price (CNY fen per mille, capped at 300), the authors' predicted CTR,
ad exchange id.

The lines carry no time, so ``ts`` is synthetic (a fixed origin plus one second per line): it
keeps the file's order, which is time order, and nothing is learned from it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from ssmas.pricing.model.importers.common import ImportReport, Rows, finish, lines_of

ORIGIN = datetime(2013, 6, 6, tzinfo=UTC)  # campaign 1458's first training day
MAX_PRICE = 300.0
CURRENCY = "CNY fen"
MISSING = ("", "null", "na", "-")  # an unknown exchange: kept, the exchange left null


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _reason(fields: list[str]) -> tuple[str | None, tuple[int, float, float, str | None] | None]:
    if len(fields) != 4:
        return f"wrong column count: expected 4, got {len(fields)}", None
    click_text, price_text, ctr_text, exchange_text = (f.strip() for f in fields)
    if click_text not in ("0", "1"):
        return f"malformed click: {click_text!r} is not 0 or 1", None
    price = _number(price_text)
    if price is None:
        return f"malformed price: {price_text!r}", None
    if not 0.0 <= price <= MAX_PRICE:
        return f"price out of range: {price:g} not in [0, {MAX_PRICE:g}]", None
    ctr = _number(ctr_text)
    if ctr is None or not 0.0 <= ctr <= 1.0:
        return f"malformed predicted CTR: {ctr_text!r} not a number in [0, 1]", None
    if exchange_text.lower() in MISSING:
        return None, (int(click_text), price, ctr, None)
    if not exchange_text.isdigit():
        return f"malformed exchange id: {exchange_text!r}", None
    return None, (int(click_text), price, ctr, str(int(exchange_text)))


def parse_ipinyou(lines: Iterable[tuple[int, str]], report: ImportReport) -> pa.Table:
    """Rows of an iPinYou log; bad lines go to ``report`` with their reason."""
    rows = Rows()
    report.currency = CURRENCY
    report.synthetic_time = True
    for number, text in lines_of(lines):
        report.rows_read += 1
        reason, parsed = _reason(text.split("\t"))
        if parsed is None:
            report.reject(number, reason or "malformed line")
            continue
        click, price, ctr, exchange = parsed
        rows.add({
            "impression_id": f"ipinyou-{number}",
            "ts": ORIGIN + timedelta(seconds=number),
            "status": "ok",
            "filled": True,
            "clearing_cpm": price,
            "historical_ctr_avg": ctr,
            "ad_exchange": exchange,
            "clicked": bool(click),
            "source_row": number,
        })  # fmt: skip
    return finish(rows, report)
