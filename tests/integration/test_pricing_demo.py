"""Pricing in ``ssmas demo``, the retraining worker and the model events of the CLI.

Real SQLite database and bus, real MLflow registry, the real live exchange and serving runtime.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import structlog
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ssmas.assistant.runtime import channel_settings
from ssmas.bootstrap import create_app, find_product
from ssmas.cli import app
from ssmas.core.bus import bus_from_settings
from ssmas.core.metrics import REGISTRY
from ssmas.core.platform import Platform, build_platform
from ssmas.core.registry import CHAMPION, ModelRegistry
from ssmas.core.worker import wait_until
from ssmas.demo import move_graph_fake
from ssmas.exchange import FloorSlot, floor_slot, run_live
from ssmas.pricing.demo import (
    DEMO_FLOOR_CONFIG,
    LIVE_TOPIC,
    DemoFloorProvider,
    DemoOptions,
    ensure_champion,
    read_live_floors,
    run_pricing_demo,
)
from ssmas.pricing.lifecycle.monitoring import MIN_ROWS
from ssmas.pricing.lifecycle.retraining import RetrainConfig, RetrainDeps, run_retrain
from ssmas.pricing.model.bundle import MODEL_NAME, save_to_registry
from ssmas.pricing.serving import store
from ssmas.pricing.serving.hot_reload import MODEL_EVENTS_TOPIC, MODEL_PROMOTED, MODEL_ROLLED_BACK
from ssmas.pricing.serving.runtime import started_serving_runtime
from ssmas.server import product_workers, start_workers
from ssmas.settings import PricingSettings, Settings, use_settings
from tests.integration.test_pricing_api import make_key
from tests.pricing_serving_support import small_model

from .pricing_support import admin_key, copy_lake, fresh_registry

pytestmark = pytest.mark.slow
EVENING = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)  # busy hours: more auctions per minute


def model_events(settings: Settings, group: str) -> list[dict[str, Any]]:
    bus = bus_from_settings(settings)
    try:
        got = bus.consume(MODEL_EVENTS_TOPIC, group, group, max_messages=100)
        bus.ack(got)
        return [dict(d.message.payload) for d in got]
    finally:
        bus.close()


def _capture_dropped() -> float:
    """Capture rows dropped so far in this process (every table)."""
    return REGISTRY.get_sample_value("ssmas_pricing_capture_dropped_total") or 0.0


@pytest.fixture()
def platform(settings: Settings) -> Iterator[Platform]:
    # The periodic drift check never comes round in a test; the demo's own first check does.
    section = PricingSettings(drift_interval_s=3600, reload_interval_s=0)
    built = build_platform(
        settings.model_copy(update={"rate_limit_burst": 10_000, "pricing": section})
    )
    try:
        yield built
    finally:
        built.close()


def test_demo_trains_a_champion_and_floors_the_live_exchange_against_control(
    tmp_path: Path, settings: Settings, platform: Platform
) -> None:
    fresh_registry(tmp_path, settings)  # a migrated, empty MLflow database (saves its start)
    dropped_before = _capture_dropped()
    assert find_product("pricing").demo == "ssmas.pricing.demo:run_demo"
    options = DemoOptions(
        history_days=3, impressions_per_day=8_000, publish_every_min=2, first_drift_s=1.0,
        drift_retry_s=1.0,
    )  # fmt: skip
    stop, exchange_stop = threading.Event(), threading.Event()
    ran: dict[str, DemoFloorProvider | None] = {}
    with TestClient(create_app(platform)) as client:
        runtime = started_serving_runtime(platform)
        assert runtime is not None
        demo = threading.Thread(
            target=lambda: ran.setdefault("provider", run_pricing_demo(platform, stop, options))
        )
        demo.start()
        exchange = threading.Thread(
            target=run_live,
            args=(settings,),
            kwargs={
                "speed": 1200.0,
                "stop_event": exchange_stop,
                "impressions_per_day": 2_000_000,
                "start": EVENING,
                "floors": floor_slot(platform),
            },
        )
        exchange.start()
        try:

            def priced_enough() -> bool:
                live = read_live_floors(settings)
                return bool(
                    live
                    and live["minutes"] >= 12
                    and live["totals"]["control"]["filled"] > 0
                    and live["totals"]["floored"]["filled"] > 0
                )

            assert wait_until(priced_enough, 240.0), read_live_floors(settings)
            # The demo ran the drift check on what its live floors captured, and stored it.
            assert wait_until(lambda: bool(store.recent_drift_reports(platform.engine)), 60.0)
            # The dashboard's floors page shows the same figures.
            login = client.post(
                "/login", data={"api_key": make_key(platform, ["*"])["X-API-Key"]},
                follow_redirects=False,
            )  # fmt: skip
            assert login.status_code == 303
            page = client.get("/dashboard/pricing/floors")
            drift_page = client.get("/dashboard/pricing/drift")
            fragment = client.get("/dashboard/pricing/floors/live")
            models = client.get("/dashboard/pricing/models/live")
        finally:
            stop.set()
            exchange_stop.set()
            demo.join(30)
            exchange.join(30)
    assert not demo.is_alive() and not exchange.is_alive()
    provider = ran["provider"]
    assert provider is not None
    provider.close()
    assert floor_slot(platform).provider is None  # the exchange is back on its own floors

    # The live outcomes fed the per-variant figures (the /v2/outcomes path): with only a
    # champion, its predicted vs realised error is on the Models page.
    variants = runtime.service.stats.as_dict()["variants"]
    champion = variants["champion"]
    totals = provider.ledger.totals.sum(axis=0)  # every group: auctions, filled, revenue
    assert champion["version"] == "1" and variants["challenger"]["outcomes"] == 0
    assert (champion["outcomes"], champion["filled"]) == (int(totals[0]), int(totals[1]))
    assert champion["revenue_eur"] == pytest.approx(totals[2], rel=1e-6)
    assert champion["mae_eur"] > 0 and champion["mean_realised_cpm"] > 0
    assert models.status_code == 200 and 'data-variant="challenger"' not in models.text
    row = models.text.split('data-variant="champion"')[1].split("</tr>")[0]
    assert float(row.split('data-field="mae">')[1].split("<")[0]) > 0
    # Every decision is logged with the model version that priced it.
    runtime.writer.flush()
    with platform.engine.connect() as conn:
        decisions = conn.execute(store.floor_decisions.select()).mappings().all()
    assert decisions and {(d["variant"], d["model_version"]) for d in decisions} == {
        ("champion", "1")
    }
    # Each request's decision is logged, or counted as dropped: the capture writer drops rows
    # rather than slow the answers once it is 100,000 behind, which a fast machine running
    # the exchange at 1,200x reaches (ssmas.pricing.serving.capture).
    logged, dropped = len(decisions), _capture_dropped() - dropped_before
    assert logged <= champion["requests"] <= logged + dropped

    live = read_live_floors(settings)
    assert live is not None
    floored, control = live["totals"]["floored"], live["totals"]["control"]
    assert floored["auctions"] > 0 and control["auctions"] > 0
    assert floored["revenue_eur"] > 0 and control["revenue_eur"] > 0
    assert floored["rpm_eur"] > 0 and control["rpm_eur"] > 0
    assert floored["mean_floor_eur"] >= DEMO_FLOOR_CONFIG.min_floor
    assert control["mean_floor_eur"] == 0.0  # control impressions are unfloored
    share = control["auctions"] / (control["auctions"] + floored["auctions"])
    assert 0.03 < share < 0.2  # the 10% control share, sticky by impression id
    assert live["uplift_pct"] is not None and live["champion_version"] == "1"
    assert live["trained_seconds"] is not None and live["trained_seconds"] > 0
    assert live["floor_config"]["control_share"] == DEMO_FLOOR_CONFIG.control_share

    # The figures went out on the bus too, and the new champion was announced.
    events = [m.payload for m in platform.bus.replay(LIVE_TOPIC, limit=1000)]
    assert events and events[-1]["totals"]["control"]["auctions"] > 0
    promoted = [e for e in model_events(settings, "t-demo") if e["event"] == MODEL_PROMOTED]
    assert promoted and promoted[0]["version"] == "1" and promoted[0]["actor"] == "demo"
    stored = runtime.floors.stored("pub-001")
    assert stored is not None and stored.control_share == DEMO_FLOOR_CONFIG.control_share

    assert page.status_code == 200 and "Live floors vs control" in page.text
    (report,) = store.recent_drift_reports(platform.engine)
    assert report["model_version"] == "1" and report["n_rows"] >= MIN_ROWS
    assert {f["name"] for f in report["report"]["features"]} >= {"format", "hour_of_day"}
    assert drift_page.status_code == 200 and 'id="drift-features"' in drift_page.text
    assert 'data-group="control"' in fragment.text and 'data-group="floored"' in fragment.text

    # A second start keeps the champion: no retraining.
    info, seconds = ensure_champion(platform, threading.Event(), options)
    assert (str(info.version), seconds) == ("1", None)


@pytest.mark.usefixtures("platform")  # the control plane's tables
def test_a_broken_provider_leaves_the_exchange_on_its_own_floors(settings: Settings) -> None:
    class Broken:
        settled = 0

        def floors(self, *_args: Any) -> Any:
            raise RuntimeError("boom")

        def settle(self, *_args: Any) -> None:
            self.settled += 1

    slot = FloorSlot()
    broken = Broken()
    slot.install(broken)
    report = run_live(settings, speed=100_000.0, minutes=3, start=EVENING, floors=slot)
    assert report.minutes == 3 and report.points > 0 and broken.settled == 3
    slot.remove(broken)
    assert slot.provider is None


def test_retrain_worker_is_registered_and_waits_quietly_without_lake_or_model(
    settings: Settings,
) -> None:
    section = PricingSettings(lake=settings.data_dir / "no-lake")
    platform = build_platform(settings.model_copy(update={"pricing": section}))
    spec = ("pricing.retrain", "ssmas.pricing.lifecycle.retraining:run_retrain_loop")
    assert product_workers([find_product("pricing")]) == [spec]
    stop = threading.Event()
    with structlog.testing.capture_logs() as logs:
        threads = start_workers(platform, stop, [spec])

        def skipped() -> bool:
            return any(e["event"] == "pricing.retrain_skipped" for e in logs)

        assert wait_until(skipped, 30.0), logs
        assert threads[0].is_alive()
        stop.set()
        threads[0].join(15)
    platform.close()
    assert not threads[0].is_alive()
    assert not any(e["event"] in ("worker_crashed", "pricing.retrain_failed") for e in logs)
    assert any("no-lake" in str(e.get("reason")) for e in logs), logs  # the configured lake
    assert not (settings.data_dir / "mlflow.db").exists()  # nothing to do: no registry created


def test_retraining_bootstrap_announces_the_new_champion(
    tmp_path: Path, settings: Settings, platform: Platform
) -> None:
    registry = fresh_registry(tmp_path, settings)
    lake = copy_lake(tmp_path.parent, tmp_path / "lake")
    deps = RetrainDeps(registry, platform.session_factory, platform.bus)
    config = RetrainConfig(lake=lake, window_days=2, params={"num_boost_round": 10})
    decision = run_retrain(deps, config)
    assert decision.outcome == "bootstrapped"
    events = model_events(settings, "t-retrain")
    assert [(e["event"], e["version"], e["actor"]) for e in events] == [
        (MODEL_PROMOTED, str(decision.challenger_version), "retrain-workflow")
    ]


@pytest.fixture()
def cli_registry(tmp_path: Path, settings: Settings) -> Iterator[ModelRegistry]:
    registry = fresh_registry(tmp_path, settings)
    first = save_to_registry(registry, small_model(0))
    save_to_registry(registry, small_model(1))
    registry.promote(MODEL_NAME, first.version)
    with use_settings(settings):  # what the commands read
        yield registry


def test_cli_promote_and_rollback_publish_model_events(
    settings: Settings, cli_registry: ModelRegistry
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    key = admin_key(settings)
    actor = f"apikey:{key.split('_')[1]}"
    result = CliRunner().invoke(app, ["pricing", "promote", "2", "--approve", "--api-key", key])
    assert result.exit_code == 0, result.output
    assert "v2 is now champion" in result.stdout
    result = CliRunner().invoke(app, ["pricing", "rollback", "--api-key", key])
    assert result.exit_code == 0, result.output
    events = model_events(settings, "t-cli")
    assert [(e["event"], e["model"], e["version"], e["actor"]) for e in events] == [
        (MODEL_PROMOTED, MODEL_NAME, "2", actor),
        (MODEL_ROLLED_BACK, MODEL_NAME, "1", actor),
    ]
    assert all(datetime.fromisoformat(e["at"]) >= since for e in events)
    champion = cli_registry.get_version_by_alias(MODEL_NAME, CHAMPION)
    assert champion is not None and champion.version == 1
    # A refused promotion changes nothing and announces nothing.
    result = CliRunner().invoke(app, ["pricing", "promote", "9", "--approve", "--api-key", key])
    assert result.exit_code == 2
    assert model_events(settings, "t-cli") == []


def test_demo_moves_the_graph_fake_off_the_dashboard_port() -> None:
    base = Settings(profile="test", whatsapp={"graph_url": "http://127.0.0.1:8765/v23.0"})
    assert move_graph_fake(base, 8000) is base  # no clash: unchanged
    moved = move_graph_fake(base, 8765)
    url = urlparse(moved.whatsapp.graph_url)
    assert url.port not in (None, 8765) and url.path == "/v23.0"
    assert base.whatsapp.graph_url == "http://127.0.0.1:8765/v23.0"  # a copy moved, not base
    platform = build_platform(moved)
    try:  # the assistant's channel reads the moved URL from the platform's settings
        assert channel_settings(platform).graph_url == moved.whatsapp.graph_url
    finally:
        platform.close()
