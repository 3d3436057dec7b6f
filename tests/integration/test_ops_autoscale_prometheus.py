"""The advisor reads a live platform's history from a real Prometheus.

Eight days of ``ssmas_api_requests_total`` (a counter sampled every 30 s whose rate follows a
known hour-of-week profile) are backfilled with ``promtool tsdb create-blocks-from openmetrics``;
Debian's ``prometheus`` serves them; ``read_prometheus`` must give back each hour's rate and the
advice must follow it.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core.security import create_api_key
from ssmas.ops.autoscale.advisor import recommend
from ssmas.ops.autoscale.forecast import HOURS_PER_WEEK, hour_index, hour_start
from ssmas.ops.autoscale.traffic import SERVICES, read_prometheus
from ssmas.ops.stack import free_port
from ssmas.settings import Settings
from tests.ops_alert_support import wait_for

pytestmark = pytest.mark.slow  # promtool backfills eight days of samples (about 15 s)
INSTALL = "install them with `make system-deps` (Debian: prometheus)"
DAYS = 8
STEP_S = 30


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: {INSTALL}")
    return found


def known_rate(hour: int) -> float:
    """Requests per second of the hour ``hour`` (an hour index): a day shape, weekends lower."""
    how = hour % HOURS_PER_WEEK
    day, of_day = divmod(how, 24)
    return (60.0 + 40.0 * math.sin(2 * math.pi * of_day / 24)) * (0.7 if day >= 5 else 1.0)


@pytest.fixture(scope="module")
def end() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, end: datetime) -> Iterator[str]:
    work = tmp_path_factory.mktemp("prometheus")
    first = int((end - timedelta(days=DAYS)).timestamp())
    lines = ["# TYPE ssmas_api_requests counter"]
    count = 0.0
    for ts in range(first, int(end.timestamp()) + 1, STEP_S):
        # The increase up to ``ts`` happened in the hour holding the second before it.
        count += known_rate(hour_index(datetime.fromtimestamp(ts - 1, UTC))) * STEP_S
        lines.append(f'ssmas_api_requests_total{{job="ssmas-api",route="/v1/x"}} {count:.1f} {ts}')
    lines.append("# EOF")
    (work / "load.om").write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [tool("promtool"), "tsdb", "create-blocks-from", "openmetrics", "load.om", "tsdb"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (work / "prometheus.yml").write_text("global: {scrape_interval: 15s}\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            tool("prometheus"),
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'tsdb'}",
            "--storage.tsdb.retention.time=10y",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert wait_for(ready, 30, 0.2), "prometheus did not become ready"
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_the_history_is_each_hours_busiest_minute_rate(prometheus: str, end: datetime) -> None:
    histories = read_prometheus(prometheus, days=7, end=end)
    api = histories["ssmas-api"]
    assert api.hours.size == 7 * 24
    assert int(api.hours[-1]) == hour_index(end) - 1
    expected = np.array([known_rate(int(h)) for h in api.hours])
    np.testing.assert_allclose(api.rps, expected, rtol=1e-4)
    assistant = histories["ssmas-worker-assistant"]
    np.testing.assert_allclose(assistant.rps, expected * 0.02, rtol=1e-4)


def test_the_advice_follows_the_recovered_profile(prometheus: str, end: datetime) -> None:
    history = read_prometheus(prometheus, days=7, end=end)["ssmas-api"]
    advice = recommend(SERVICES[0], history, 24)
    assert advice.forecast.start == hour_start(hour_index(end))
    expected = np.array([known_rate(hour_index(h)) for h in advice.forecast.hours()])
    np.testing.assert_allclose(advice.forecast.point, expected, rtol=1e-4)
    assert [h.replicas for h in advice.hours] == [
        max(2, math.ceil(r / 60.0 - 1e-9)) for r in expected
    ]


def test_an_unreachable_or_empty_prometheus_is_a_clear_error(
    prometheus: str, end: datetime
) -> None:
    with pytest.raises(ValueError, match="holds no ssmas_api_requests_total"):
        read_prometheus(prometheus, days=2, end=end - timedelta(days=30))
    with pytest.raises(ValueError, match=r"Prometheus at http://127\.0\.0\.1:9"):
        read_prometheus("http://127.0.0.1:9", days=1, end=end, timeout_s=1)


def test_the_page_shows_the_history_prometheus_holds(prometheus: str, settings: Settings) -> None:
    live = settings.model_copy(
        update={"ops": settings.ops.model_copy(update={"prometheus_url": prometheus})}
    )
    with TestClient(create_app(settings=live)) as client:
        with client.app.state.platform.uow() as uow:  # type: ignore[attr-defined]
            raw, _ = create_api_key(uow.session, "ops-autoscale", ["*"])
            uow.commit()
        client.post("/login", data={"api_key": raw}, follow_redirects=False)
        page = client.get("/dashboard/ops/autoscale", params={"hours": 6})
        assert page.status_code == 200
        assert 'data-source="prometheus"' in page.text
        assert page.text.count("data-replicas=") == 6
