"""Lead scoring of stored leads (issue 16): how fast a tenant's imported leads are scored by the
lead-quality champion and stored, and how long the demo's quick model takes to train.

Figures:
- ``stored_leads_scored_per_s``: ``score_stored_leads`` with ``overwrite`` over a tenant's
  imported leads (read in chunks of 10,000 from SQLite, features from the stored fields and the
  encrypted import columns, the champion's batch scores, ``record_quality``), leads per second
  of wall clock;
- ``stored_leads``: how many leads that was; ``import_s``: their import (validation included);
- ``demo_model_train_s``: training and registering the demo's quick model
  (``ssmas.campaigns.demo.DEMO_QUALITY``), and its held-out ``demo_model_auc``.

    .venv/bin/python benchmarks/campaigns_lead_scoring.py [--quick]

``--quick`` (2,000 leads, for the test) writes ``campaigns_lead_scoring.quick.json`` only; the
full run (50,000 leads) writes ``campaigns_lead_scoring.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _report import write_result  # noqa: E402
from ssmas.campaigns.demo import DEMO_QUALITY  # noqa: E402
from ssmas.campaigns.leads import import_leads, simulated_leads_csv  # noqa: E402
from ssmas.campaigns.leads.scoring import score_stored_leads  # noqa: E402
from ssmas.campaigns.quality.lifecycle import TrainConfig, train_and_decide  # noqa: E402
from ssmas.campaigns.quality.runtime import quality_runtime  # noqa: E402
from ssmas.campaigns.runtime import campaigns_runtime  # noqa: E402
from ssmas.campaigns.tenancy import create_tenant  # noqa: E402
from ssmas.core.platform import build_platform  # noqa: E402
from ssmas.core.registry import registry_from_settings  # noqa: E402
from ssmas.settings import Settings  # noqa: E402

NAME = "campaigns_lead_scoring"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 leads, for the test")
    args = parser.parse_args()
    count = 2_000 if args.quick else 50_000
    with tempfile.TemporaryDirectory() as root:
        settings = Settings(profile="test", data_dir=Path(root) / "data")
        settings.ensure_dirs()
        started = time.perf_counter()
        decision = train_and_decide(registry_from_settings(settings), TrainConfig(**DEMO_QUALITY))
        train_s = time.perf_counter() - started
        platform = build_platform(settings)
        try:
            with platform.uow() as uow:
                tenant = create_tenant(uow.session, "bench-mx", "Bench", "enterprise")
                uow.commit()
                tenant_id = tenant.id
            runtime = campaigns_runtime(platform)
            data = simulated_leads_csv(count, seed=7)
            started = time.perf_counter()
            summary = import_leads(
                platform.session_factory,
                tenant_id,
                "bench.csv",
                data,
                cipher=runtime.cipher,
                checker=runtime.validator,
            )
            import_s = time.perf_counter() - started
            scorer = quality_runtime(platform).scorer
            assert scorer is not None
            started = time.perf_counter()
            outcome = score_stored_leads(
                platform.session_factory, tenant_id, scorer, cipher=runtime.cipher, overwrite=True
            )
            score_s = time.perf_counter() - started
        finally:
            platform.close()
    figures = {
        "stored_leads_scored_per_s": int(outcome.scored / score_s),
        "stored_leads": outcome.scored,
        "import_s": round(import_s, 2),
        "imported_created": summary.created,
        "demo_model_train_s": round(train_s, 2),
        "demo_model_auc": round(decision.auc, 4),
    }
    notes = (
        f"{count:,} simulated lead rows imported into one tenant on SQLite, then every stored "
        "lead rescored (overwrite) by the demo's quick model; wall clock, one process, on a "
        "machine shared with other jobs."
    )
    path = write_result(NAME, figures, notes, quick=args.quick)
    table = Table(title=f"lead scoring of stored leads → {path.name}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    Console().print(table)


if __name__ == "__main__":
    main()
