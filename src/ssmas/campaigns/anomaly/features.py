"""Feature tables the anomaly ensemble reads: one row per validation batch (the seed's
``_extract_validation_features``) and one row per campaign from its raw counts.

Counts grow with size, so the features are shares and rates (plus the log of the size): a batch
of 500 and a batch of 50,000 from the same source look alike, and a batch that is suddenly 40%
``too_short``, or whose valid numbers all share one LADA (a bought list), stands out.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import pandas as pd

from ssmas.campaigns.anomaly.ensemble import AnomalyInputError
from ssmas.campaigns.phone import PhoneCheck, Reason

__all__ = ["CAMPAIGN_COUNTS", "campaign_features", "validation_features"]

CAMPAIGN_COUNTS = ("sent", "delivered", "clicked", "converted", "cost")


def validation_features(batches: Mapping[str, Sequence[PhoneCheck]]) -> pd.DataFrame:
    """One row per batch id: ``log_size``, ``legacy_share`` (numbers that came with an obsolete
    prefix), ``top_lada_share`` (the commonest area code among the valid ones) and one
    ``<reason>_share`` per rejection reason; the index is the batch id. The valid share is left
    out on purpose: it is one minus the reason shares, and a column that the others determine
    lets the autoencoder reconstruct a batch that is extreme along that line."""
    if not batches:
        raise AnomalyInputError("no validation batches")
    rows = {}
    for batch_id, checks in batches.items():
        if not checks:
            raise AnomalyInputError(f"batch {batch_id!r} is empty")
        n = len(checks)
        reasons = Counter(c.reason for c in checks if c.reason is not None)
        ladas = Counter(c.lada for c in checks if c.valid and c.lada)
        valid = sum(1 for c in checks if c.valid)
        row = {
            "log_size": math.log10(n),
            "legacy_share": sum(1 for c in checks if c.legacy_prefix) / n,
            "top_lada_share": (max(ladas.values()) / valid) if ladas and valid else 0.0,
        }
        row.update({f"{reason.value}_share": reasons[reason] / n for reason in Reason})
        rows[batch_id] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def campaign_features(counts: pd.DataFrame) -> pd.DataFrame:
    """Rates from a campaign's counts (columns :data:`CAMPAIGN_COUNTS`): ``log_sent``,
    ``delivery_rate``, ``click_rate`` (per delivered), ``conversion_rate`` (per click),
    ``cost_per_send``; rows keep the input's index."""
    missing = [c for c in CAMPAIGN_COUNTS if c not in counts.columns]
    if missing:
        raise AnomalyInputError(f"missing count column(s): {', '.join(missing)}")
    c = counts.loc[:, list(CAMPAIGN_COUNTS)].astype(float)
    if (c < 0).to_numpy().any():
        raise AnomalyInputError("counts and costs cannot be negative")
    if (c["sent"] <= 0).any():
        raise AnomalyInputError("every campaign needs sent > 0")

    def rate(num: str, den: str) -> pd.Series:
        return (c[num] / c[den].where(c[den] > 0)).fillna(0.0)

    return pd.DataFrame(
        {
            "log_sent": c["sent"].map(math.log10),
            "delivery_rate": rate("delivered", "sent"),
            "click_rate": rate("clicked", "delivered"),
            "conversion_rate": rate("converted", "clicked"),
            "cost_per_send": c["cost"] / c["sent"],
        },
        index=counts.index,
    )
