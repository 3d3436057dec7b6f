"""``ssmas ops autoscale`` and its page over HTTP: advice, exported YAML, bad input."""

from __future__ import annotations

from pathlib import Path

import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ssmas.bootstrap import create_app
from ssmas.core.security import create_api_key
from ssmas.ops.commands import ops_app
from ssmas.settings import Settings, use_settings

PAGE = "/dashboard/ops/autoscale"
runner = CliRunner()


def test_the_page_shows_the_forecast_band_and_replicas_per_hour(settings: Settings) -> None:
    with TestClient(create_app(settings=settings)) as client:
        anonymous = client.get(PAGE, follow_redirects=False)
        assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
        with client.app.state.platform.uow() as uow:  # type: ignore[attr-defined]
            raw, _ = create_api_key(uow.session, "ops-autoscale", ["*"])
            uow.commit()
        assert (
            client.post("/login", data={"api_key": raw}, follow_redirects=False).status_code == 303
        )
        page = client.get(PAGE, params={"service": "ssmas-worker-adops", "hours": 12})
        assert page.status_code == 200
        assert 'data-service="ssmas-worker-adops"' in page.text
        assert 'data-source="simulated"' in page.text
        for series in ("interval", "history", "forecast", "replicas"):
            assert f'data-series="{series}"' in page.text
        assert page.text.count("data-replicas=") == 12
        assert f'href="{PAGE}"' in client.get("/dashboard/ops").text
        for bad in ({"hours": 0}, {"hours": 169}, {"service": "nope"}):
            response = client.get(PAGE, params=bad)
            assert response.status_code == 422, bad
            assert response.headers["content-type"].startswith("application/json")


def test_recommend_and_backtest_print_their_figures(settings: Settings) -> None:
    with use_settings(settings):
        done = runner.invoke(
            ops_app, ["autoscale", "recommend", "--hours", "3", "--service", "ssmas-api"]
        )
        assert done.exit_code == 0, done.output
        assert "ssmas-api" in done.output and "replicas" in done.output
        done = runner.invoke(
            ops_app,
            [
                "autoscale",
                "backtest",
                "--service",
                "ssmas-api",
                "--days",
                "24",
                "--warmup-days",
                "21",
            ],
        )
        assert done.exit_code == 0, done.output
        row = next(line for line in done.output.splitlines() if "ssmas-api" in line)
        cells = [c.strip() for c in row.strip("│ ").split("│")]
        assert cells[1] == "72" and float(cells[2]) >= 95.0


def test_export_writes_yaml_naming_the_deployments(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "autoscale.yaml"
    with use_settings(settings):
        done = runner.invoke(ops_app, ["autoscale", "export", "--kind", "keda", "--out", str(out)])
    assert done.exit_code == 0, done.output
    docs = [d for d in yaml.safe_load_all(out.read_text()) if d]
    assert {d["kind"] for d in docs} == {"ScaledObject"}
    assert {d["metadata"]["name"] for d in docs} == {
        "ssmas-api",
        "ssmas-worker-adops",
        "ssmas-worker-assistant",
    }


def test_bad_input_ends_with_one_line_and_exit_code_2(settings: Settings, tmp_path: Path) -> None:
    short = tmp_path / "short.csv"
    short.write_text("service,hour,rps\nssmas-api,2026-03-02T00:00:00+00:00,5\n")
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("service,hour,rps\nmystery,2026-03-02T00:00:00+00:00,5\n")
    cases = [
        (["autoscale", "export", "--kind", "helm"], "bad --kind"),
        (["autoscale", "recommend", "--service", "nope"], "unknown service 'nope'"),
        (["autoscale", "recommend", "--history", str(tmp_path / "none.csv")], "is not a file"),
        (["autoscale", "recommend", "--history", str(short)], "misses 167 of the 168"),
        (["autoscale", "recommend", "--history", str(stranger)], "unknown service 'mystery'"),
        (["autoscale", "export", "--prometheus", "prom:9090"], "bad --prometheus"),
        (["autoscale", "recommend", "--from-prometheus", "prom:9090"], "bad --from-prometheus"),
        (
            ["autoscale", "recommend", "--from-prometheus", "http://127.0.0.1:9"],
            "Prometheus at http://127.0.0.1:9",
        ),
        (
            ["autoscale", "backtest", "--history", str(short), "--from-prometheus", "http://x"],
            "not both",
        ),
    ]
    with use_settings(settings):
        for args, message in cases:
            done = runner.invoke(ops_app, args)
            assert done.exit_code == 2, (args, done.output)
            assert message in done.output and "Traceback" not in done.output


def test_an_unanswering_prometheus_leaves_the_page_on_simulated_traffic(
    settings: Settings,
) -> None:
    dead = settings.model_copy(
        update={"ops": settings.ops.model_copy(update={"prometheus_url": "http://127.0.0.1:9"})}
    )
    with TestClient(create_app(settings=dead)) as client:
        with client.app.state.platform.uow() as uow:  # type: ignore[attr-defined]
            raw, _ = create_api_key(uow.session, "ops-autoscale", ["*"])
            uow.commit()
        client.post("/login", data={"api_key": raw}, follow_redirects=False)
        page = client.get(PAGE)
        assert page.status_code == 200
        assert 'data-source="simulated"' in page.text
        assert "Prometheus gave no usable history" in page.text
