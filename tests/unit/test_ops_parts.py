"""Ops' pure parts: silence matchers, durations, the Prometheus configuration, check alerts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ssmas.ops.alerts import alerts_from_checks, parse_matchers
from ssmas.ops.commands import parse_duration
from ssmas.ops.stack import StackSettings, prometheus_config


def test_matchers_of_every_operator() -> None:
    assert parse_matchers(["alertname=SsmasQueueBacklog", "job=~ssmas.*", "a!=b", "c!~d"]) == [
        {"name": "alertname", "value": "SsmasQueueBacklog", "isRegex": False, "isEqual": True},
        {"name": "job", "value": "ssmas.*", "isRegex": True, "isEqual": True},
        {"name": "a", "value": "b", "isRegex": False, "isEqual": False},
        {"name": "c", "value": "d", "isRegex": True, "isEqual": False},
    ]
    assert parse_matchers(["topic=a=b"])[0]["value"] == "a=b"


@pytest.mark.parametrize("bad", [[], ["no operator"], ["=value"], ["1x=y"], ["a b=c"]])
def test_bad_matchers_are_refused(bad: list[str]) -> None:
    with pytest.raises(ValueError):
        parse_matchers(bad)


def test_durations() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    assert parse_duration("2d") == timedelta(days=2)
    for bad in ("", "10", "0s", "-1m", "1w", "soon"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_the_prometheus_configuration_scrapes_the_targets_and_loads_the_rules() -> None:
    settings = StackSettings(
        targets=["127.0.0.1:8000", "10.0.0.2:8000"],
        rule_files=[Path("deploy/prometheus/rules/ssmas.yml")],
        alertmanager_config=Path("am.yml"),
        workdir=Path("w"),
        scrape_interval_s=0.5,
        evaluation_interval_s=20,
        extra_scrape_jobs={"ssmas-worker": ["127.0.0.1:9100"]},
    )
    config = prometheus_config(settings, "127.0.0.1:9093")
    assert config["global"] == {
        "scrape_interval": "500ms",
        "scrape_timeout": "500ms",
        "evaluation_interval": "20000ms",
    }
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}  # type: ignore[index, union-attr, attr-defined]
    assert jobs == {
        "ssmas-api": ["127.0.0.1:8000", "10.0.0.2:8000"],
        "ssmas-worker": ["127.0.0.1:9100"],
    }
    assert str(config["rule_files"][0]).endswith("deploy/prometheus/rules/ssmas.yml")  # type: ignore[index]


def test_failing_checks_become_critical_alerts() -> None:
    alerts = alerts_from_checks([("db", True, "ok"), ("cache", False, "ConnectionError: refused")])
    assert [(a.name, a.severity, a.labels["check"], a.source) for a in alerts] == [
        ("SsmasCheckFailing", "critical", "cache", "platform")
    ]
    assert "refused" in alerts[0].summary
