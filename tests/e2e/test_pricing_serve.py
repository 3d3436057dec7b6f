"""``ssmas serve`` as a real process: a registered champion serves /v2, a slow one falls back,
and the captured sample is written before the process exits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ssmas.core.platform import build_platform
from ssmas.core.security.keys import create_api_key
from ssmas.pricing.model.bundle import MODEL_NAME, save_to_registry, train_model
from ssmas.pricing.serving import store
from ssmas.pricing.serving.capture import sampled
from ssmas.settings import Settings
from tests.e2e.test_serve import free_port, stop
from tests.integration.pricing_support import fresh_registry
from tests.pricing_serving_support import request_body, synthetic_frame

pytestmark = pytest.mark.slow
STARTUP_TIMEOUT_S = 180.0  # imports MLflow to load the model; the machine is shared


def start_server(data_dir: Path, port: int, **extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSMAS_")}
    env.update({"SSMAS_PROFILE": "test", "SSMAS_DATA_DIR": str(data_dir), **extra})
    cmd = [sys.executable, "-m", "ssmas.cli", "serve", "--port", str(port)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    """/ready is 200 once the champion load finished (the pricing_models check)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited early with code {proc.returncode}"
        try:
            ready = httpx.get(f"{base}/ready", timeout=2.0)
            if ready.status_code == 200:
                assert "pricing_models" in ready.json()["checks"]
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become ready in time")


def test_registered_champion_serves_and_a_slow_one_falls_back(
    tmp_path: Path, settings: Settings
) -> None:
    registry = fresh_registry(tmp_path, settings)
    model, _ = train_model(synthetic_frame(3000), params={"num_boost_round": 20})
    info = save_to_registry(registry, model)
    registry.promote(MODEL_NAME, info.version)
    platform = build_platform(settings)
    with platform.uow() as uow:
        key, _ = create_api_key(uow.session, "e2e", ["pricing"])
        uow.commit()
    headers = {"X-API-Key": key}

    port, slow_port = free_port(), free_port()
    server = start_server(settings.data_dir, port)
    slow = start_server(
        settings.data_dir,
        slow_port,
        SSMAS_PRICING_INJECTED_DELAY_MS="60000",
        SSMAS_PRICING_TIMEOUT_MS="100",
    )
    try:
        base, slow_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{slow_port}"
        wait_ready(base, server)
        ids = [f"e2e-{i}" for i in range(40)]
        for i in ids[:20]:
            answer = httpx.post(f"{base}/v2/predict", json=request_body(i), headers=headers)
            assert answer.status_code == 200, answer.text
            assert answer.json()["model_version"] == "1" and answer.json()["fallback"] is False
        batch = httpx.post(
            f"{base}/v2/predict/batch", headers=headers, json=[request_body(i) for i in ids[20:]]
        )
        assert [a["model_version"] for a in batch.json()] == ["1"] * 20
        floor = httpx.post(f"{base}/v2/floor", json=request_body("floor-1"), headers=headers)
        assert floor.json()["reason"] == "dynamic" and floor.json()["model_version"] == "1"
        metrics = httpx.get(f"{base}/metrics").text
        assert 'ssmas_pricing_model_version_info{variant="champion"} 1.0' in metrics

        wait_ready(slow_base, slow)
        for i in range(3):
            answer = httpx.post(
                f"{slow_base}/v2/predict", json=request_body(f"s{i}"), headers=headers, timeout=10.0
            ).json()
            assert answer["fallback"] is True and answer["model_version"] == "1"
    finally:
        # uvicorn re-raises SIGTERM after its graceful shutdown (lifespan teardown included).
        assert stop(server) in (0, -15)
        stop(slow)
    # Rows still buffered at SIGTERM are written by the app's teardown.
    with platform.engine.connect() as conn:
        captured = {r.impression_id for r in conn.execute(store.captures.select())}
    platform.close()
    expected = {i for i in [*ids, "floor-1"] if sampled(i, 0.1)}
    assert expected and expected <= captured
