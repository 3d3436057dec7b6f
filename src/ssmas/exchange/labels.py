"""Ground truth next to the data: fault labels, the control-plane history and a run manifest.

Everything written here is a pure function of the run's inputs (no wall-clock times), so two
runs with the same seed leave identical files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from ssmas.exchange import catalog, lake
from ssmas.exchange.control_plane import ControlVersion
from ssmas.exchange.faults import Fault
from ssmas.exchange.world import World

if TYPE_CHECKING:
    from ssmas.exchange.simulate import SimulationConfig

LABEL_SCHEMA = pa.schema(
    [
        ("fault_id", pa.string()),
        ("type", pa.string()),
        ("entity_type", pa.string()),
        ("entity", pa.string()),
        ("start", pa.timestamp("s", tz="UTC")),
        ("end", pa.timestamp("s", tz="UTC")),
        ("severity", pa.float64()),
    ]
)


def fault_labels(faults: Sequence[Fault]) -> list[dict[str, Any]]:
    return [f.label() for f in sorted(faults, key=lambda f: (f.start, f.fault_id))]


def write_fault_labels(root: Path, faults: Sequence[Fault]) -> Path:
    """Write ``labels/faults.json`` and ``labels/faults.parquet``; returns the JSON path."""
    labels = fault_labels(faults)
    path = root / lake.LABELS / "faults.json"
    lake.write_json(path, labels)
    ordered = sorted(faults, key=lambda f: (f.start, f.fault_id))
    table = pa.table(
        {
            "fault_id": [f.fault_id for f in ordered],
            "type": [f.kind for f in ordered],
            "entity_type": [f.entity_type for f in ordered],
            "entity": [f.entity for f in ordered],
            "start": [f.start for f in ordered],
            "end": [f.end for f in ordered],
            "severity": [f.severity for f in ordered],
        },
        schema=LABEL_SCHEMA,
    )
    pq.write_table(table, root / lake.LABELS / "faults.parquet", compression=lake.COMPRESSION)
    return path


def world_summary(world: World) -> dict[str, Any]:
    return {
        "publishers": [
            {"publisher_id": p.publisher_id, "domain": p.domain, "traffic_share": p.traffic_share}
            for p in world.publishers
        ],
        "ad_units": [
            {
                "ad_unit_id": u.ad_unit_id,
                "publisher_id": world.publishers[u.publisher].publisher_id,
                "format": catalog.FORMATS[u.format],
                "size": u.size,
                "inventory_type": catalog.INVENTORY_TYPES[u.inventory],
                "auction_type": catalog.AUCTION_TYPES[u.auction],
                "default_floor": u.default_floor,
            }
            for u in world.ad_units
        ],
        "partners": [
            {"name": p.name, "demand_channel": catalog.DEMAND_CHANNELS[p.channel]}
            for p in world.partners
        ],
    }


def write_labels(
    root: Path, world: World, config: SimulationConfig, versions: Sequence[ControlVersion]
) -> None:
    """Fault labels, control-plane history and the manifest of a batch run."""
    write_fault_labels(root, config.faults)
    lake.write_json(
        root / lake.LABELS / "control_plane.json",
        [v.model_dump(mode="json") for v in versions],
    )
    lake.write_json(
        root / "manifest.json",
        {
            "seed": config.seed,
            "start": config.start.isoformat(),
            "days": config.days,
            "impressions_per_day": config.impressions_per_day,
            "world": world_summary(world),
        },
    )
