"""``ssmas adops rules list|test|publish`` and ``ssmas adops replay`` on a scratch data dir."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ssmas.adops.events.service import build_event_rules
from ssmas.cli import app
from ssmas.core.platform import build_platform
from ssmas.settings import AdopsSettings, Settings, use_settings

T0 = datetime(2026, 11, 30, 23, 50, tzinfo=UTC)
RULES = """
rules:
  - name: forward
    pattern: {source: [adops.analytics], detail: {severity: [HIGH]}}
    targets:
      - {id: out, type: topic, topic: adops.out, input_path: $.detail}
"""


@pytest.fixture()
def settings_used(tmp_path: Path) -> Iterator[Settings]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    settings = Settings(profile="test", data_dir=tmp_path / "data").model_copy(
        update={"adops": AdopsSettings(rules_file=rules)}
    )
    settings.ensure_dirs()
    with use_settings(settings):
        yield settings


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["adops", *args])
    return result.exit_code, result.stdout, result.stderr


def event_file(tmp_path: Path, severity: str = "HIGH", name: str = "e.json") -> Path:
    path = tmp_path / name
    body = {
        "source": "adops.analytics",
        "detail-type": "Composite Anomaly Detected",
        "detail": {"severity": severity, "entity_id": "pub-1"},
    }
    path.write_text(json.dumps(body))
    return path


def test_rules_list_and_test(settings_used: Settings, tmp_path: Path) -> None:
    code, out, _ = run("rules", "list")
    assert code == 0 and "forward" in out and "out (topic)" in out
    code, out, _ = run("rules", "test", "--rule", "forward", "--event", str(event_file(tmp_path)))
    assert code == 0 and "rule forward matches" in out and '"entity_id": "pub-1"' in out
    low = event_file(tmp_path, "LOW", "low.json")
    code, out, _ = run("rules", "test", "--rule", "forward", "--event", str(low))
    assert code == 1 and "does not match" in out
    code, out, _ = run("rules", "list", "--rules", "")  # an empty path: no such file
    assert code == 2


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            "rules:\n  - name: a\n    pattern: {source: [x]}\n"
            "    targets: [{id: t, type: topic}]\n",
            "rule 'a': targets[0]: a topic target needs topic",
        ),
        (
            "rules:\n  - name: a\n    pattern: {source: x}\n"
            "    targets: [{id: t, type: incident}]\n",
            "rule 'a': pattern.source: a field's value is a list",
        ),
        (
            "rules:\n  - name: a\n    pattern: {n: [{numeric: ['>', b]}]}\n"
            "    targets: [{id: t, type: incident}]\n",
            "rule 'a': pattern.n[0]: numeric bound",
        ),
        (
            "rules:\n  - pattern: {source: [x]}\n    targets: [{id: t, type: incident}]\n",
            "rule #1: name: Field required",
        ),
        (
            "rules:\n  - {name: a, pattern: {s: [x]}, targets: [{id: t, type: incident}]}\n"
            "  - {name: a, pattern: {s: [y]}, targets: [{id: t, type: incident}]}\n",
            "rule 'a': name: used by an earlier rule",
        ),
        ("rules: [\n", "not YAML at line"),
        ("- just a list\n", "expected a mapping with a 'rules' list"),
    ],
)
def test_an_invalid_rule_file_is_one_line_and_exit_2(
    settings_used: Settings, tmp_path: Path, rules: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(rules)
    code, out, err = run("rules", "list", "--rules", str(path))
    assert code == 2, out
    assert len(err.strip().splitlines()) == 1 and message in err and str(path) in err


def test_bad_arguments_exit_2(settings_used: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"source": "x"}')
    code, _, err = run("rules", "test", "--rule", "forward", "--event", str(bad))
    assert code == 2 and "detail-type" in err
    code, _, err = run("rules", "test", "--rule", "nope", "--event", str(bad))
    assert code == 2 and "no rule 'nope'" in err
    code, _, err = run("replay", "--from", "2026-13-01", "--to", "2026-12-02")
    assert code == 2 and "bad --from" in err
    code, _, err = run("replay", "--from", "2026-12-02", "--to", "2026-12-01T00:00:00")
    assert code == 2 and "--to must be after --from" in err
    code, _, err = run("replay", "--from", "2026-12-01", "--to", "2026-12-02", "--rule", "x")
    assert code == 2 and "no rule 'x'" in err


def test_publish_then_replay(settings_used: Settings, tmp_path: Path) -> None:
    code, out, _ = run("rules", "publish", "--event", str(event_file(tmp_path)))
    assert code == 0 and "on adops.events" in out
    platform = build_platform(settings_used)
    try:
        runtime = build_event_rules(platform)
        from ssmas.adops.events import publish_event

        for minute in range(20):  # across midnight: two day partitions
            publish_event(
                platform.bus,
                {
                    "source": "adops.analytics",
                    "detail-type": "d",
                    "time": (T0 + timedelta(minutes=minute)).isoformat(),
                    "detail": {"severity": "HIGH", "n": minute},
                },
            )
        deliveries = platform.bus.consume("adops.events", "adops-rules", "t", max_messages=100)
        runtime.handle_batch(deliveries)
        platform.bus.ack(deliveries)
        assert len(platform.bus.replay("adops.out")) == 21
    finally:
        platform.close()
    code, out, err = run(
        "replay", "--from", "2026-11-30T23:55:00Z", "--to", "2026-12-01", "--name", "again"
    )
    assert code == 0, err
    assert "replay again: 15 events, 15 rule matches, 15 delivered" in out
    platform = build_platform(settings_used)
    try:
        replayed = [m for m in platform.bus.replay("adops.out") if "replay:again" in (m.key or "")]
        assert sorted(m.payload["n"] for m in replayed) == list(range(5, 20))
    finally:
        platform.close()
