"""Alerting on the real Prometheus and Alertmanager binaries (Debian packages, `make system-deps`).

The rule files pass ``promtool check rules`` and their unit tests (``promtool test rules``), and
every alert has one; the routing passes ``amtool check-config``. Then the drill: the Redis of a
running ``ssmas serve`` stops, ``SsmasHighErrorRate`` reaches Slack, the webhook, PagerDuty and
email once each, and each gets one resolution. Alertmanager's silences and inhibition are
checked through ``ssmas ops silence`` / ``ssmas ops alerts`` against a running Alertmanager.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from ssmas.cli import app as cli_app
from ssmas.ops.stack import AlertStack, StackSettings, free_port
from tests.fakes.webhook_sink import HttpSink
from tests.ops_alert_support import (
    ALERTMANAGER,
    RECEIVERS,
    RULES,
    local_alertmanager_config,
    run_drill,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
RULE_TESTS = sorted((ROOT / "deploy" / "prometheus" / "tests").glob("*.yml"))
INSTALL = "install them with `make system-deps` (Debian: prometheus prometheus-alertmanager)"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: {INSTALL}")
    return found


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_the_rule_files_pass_promtool_check() -> None:
    done = run(tool("promtool"), "check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_rule_passes_its_promtool_unit_tests() -> None:
    assert RULE_TESTS, "deploy/prometheus/tests/ holds no rule test"
    done = run(tool("promtool"), "test", "rules", *map(str, RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_firing_case_in_the_unit_tests() -> None:
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    fired: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    fired.add(check["alertname"])
    assert alerts - fired == set(), "alerts no unit test sees firing"
    assert alerts >= {
        "SsmasHighErrorRate",
        "SsmasPredictionLatencyHigh",
        "SsmasQueueBacklog",
        "SsmasQueueAgeHigh",
        "SsmasModelDriftCritical",
        "SsmasSystemDegradation",
        "SsmasTargetDown",
        "SsmasMetricsAbsent",
    }


def test_a_broken_rule_fails_promtool(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    rule = {"alert": "X", "expr": "rate(x[5m]"}  # unbalanced parenthesis
    broken.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [rule]}]}))
    done = run(tool("promtool"), "check", "rules", str(broken))
    assert done.returncode != 0


def test_the_alertmanager_routing_passes_amtool() -> None:
    done = run(tool("amtool"), "check-config", str(ALERTMANAGER))
    assert done.returncode == 0, done.stdout + done.stderr


def test_critical_errors_page_and_warnings_only_reach_the_team(tmp_path: Path) -> None:
    """``amtool config routes test``: where the production routing sends each kind of alert."""

    def receiver(*labels: str) -> str:
        cmd = [tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER}"]
        done = run(*cmd, *labels)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert receiver("severity=critical", "category=ERROR") == "page"
    assert receiver("severity=critical", "category=AVAILABILITY") == "page"
    assert receiver("severity=critical", "category=MODEL_DRIFT") == "critical"
    assert receiver("severity=warning", "category=CAPACITY") == "team"


@pytest.mark.slow
def test_an_injected_fault_reaches_every_receiver_once_then_resolves_and_a_kill_pages(
    tmp_path: Path,
) -> None:
    tool("prometheus"), tool("prometheus-alertmanager"), tool("redis-server")
    result = run_drill(tmp_path)
    assert result.firing == dict.fromkeys(RECEIVERS, 1), result.notifications
    assert result.resolved == dict.fromkeys(RECEIVERS, 1), result.notifications
    assert result.other_alerts == set(), result.notifications
    assert set(result.fire_s) == set(RECEIVERS)
    # Absence of data: the killed server's SsmasTargetDown pages every receiver, once.
    assert result.down_firing == dict.fromkeys(RECEIVERS, 1), result.notifications


def test_stack_refuses_in_one_line_when_the_binaries_are_missing(tmp_path: Path) -> None:
    done = CliRunner().invoke(cli_app, ["ops", "stack", "--for", "1s"], env={"PATH": str(tmp_path)})
    assert done.exit_code == 2
    assert "prometheus and alertmanager not installed" in done.output
    assert "Traceback" not in done.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--for", "soon"], "bad duration"),
        (["--target", "nohost"], "bad --target"),
        (["--rules", "no/such/folder"], "is not a folder of rule files"),
        (["--scrape-interval", "-1s"], "bad duration"),
    ],
)
def test_stack_refuses_bad_options(args: list[str], message: str) -> None:
    done = CliRunner().invoke(cli_app, ["ops", "stack", *args])
    assert done.exit_code == 2, done.output
    assert message in done.output


@pytest.mark.slow
def test_stack_runs_both_processes_against_the_platform_and_stops(tmp_path: Path) -> None:
    tool("prometheus"), tool("prometheus-alertmanager")
    ports = [str(free_port()), str(free_port())]
    done = CliRunner().invoke(
        cli_app,
        [
            "ops",
            "stack",
            "--for",
            "2s",
            "--workdir",
            str(tmp_path),
            "--target",
            "127.0.0.1:9",
            "--prometheus-port",
            ports[0],
            "--alertmanager-port",
            ports[1],
            "--rules",
            str(RULES.parent),
            "--alertmanager-config",
            str(ALERTMANAGER),
        ],
    )
    assert done.exit_code == 0, done.output
    assert f"Prometheus http://127.0.0.1:{ports[0]}" in done.output
    assert "stopped Prometheus and Alertmanager" in done.output
    written = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    assert written["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9"]
    assert written["rule_files"] == [str(RULES.resolve())]


def _post_alert(url: str, name: str, severity: str, family: str) -> None:
    now = datetime.now(UTC)
    alert = {
        "labels": {"alertname": name, "severity": severity, "family": family, "job": "ssmas"},
        "annotations": {"summary": f"{name} drill"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=10)).isoformat(),
    }
    assert httpx.post(f"{url}/api/v2/alerts", json=[alert], timeout=5).status_code == 200


@pytest.mark.slow
def test_silences_and_inhibition_in_a_running_alertmanager(tmp_path: Path) -> None:
    tool("prometheus"), tool("prometheus-alertmanager")
    rules = tmp_path / "empty.yml"
    rules.write_text("groups: []\n")
    with HttpSink() as sink:
        config = tmp_path / "alertmanager.yml"
        local_alertmanager_config(
            ALERTMANAGER, config, http_url=sink.url, smtp_port=9, group_wait_s=0.2
        )
        settings = StackSettings(["127.0.0.1:9"], [rules], config, tmp_path / "stack")
        with AlertStack(settings) as stack:
            url = stack.alertmanager_url
            runner = CliRunner()
            silenced = runner.invoke(
                cli_app,
                [
                    "ops",
                    "silence",
                    "alertname=SsmasDrillMuted",
                    "--for",
                    "10m",
                    "--comment",
                    "drill",
                    "--alertmanager",
                    url,
                ],
            )
            assert silenced.exit_code == 0, silenced.output
            _post_alert(url, "SsmasDrillMuted", "warning", "drill_muted")
            _post_alert(url, "SsmasDrillCritical", "critical", "drill")
            _post_alert(url, "SsmasDrillWarning", "warning", "drill")

            def listed() -> str:
                done = runner.invoke(cli_app, ["ops", "alerts", "--alertmanager", url])
                assert done.exit_code == 0, done.output
                return done.output

            assert wait_for(lambda: "SsmasDrillCritical" in listed(), 10)
            shown = listed()
            assert "SsmasDrillMuted" not in shown  # silenced
            assert "SsmasDrillWarning" not in shown  # inhibited by the critical of its family
            webhook = [r.json() for r in sink.requests if r.path == "/webhook"]
            notified = {a["labels"]["alertname"] for body in webhook for a in body["alerts"]}
            assert "SsmasDrillMuted" not in notified and "SsmasDrillWarning" not in notified

            bad = runner.invoke(cli_app, ["ops", "silence", "not a matcher", "--alertmanager", url])
            assert bad.exit_code == 2 and "must look like name=value" in bad.output


def test_alerts_and_silence_refuse_without_an_alertmanager() -> None:
    runner = CliRunner()
    done = runner.invoke(cli_app, ["ops", "alerts"], env={"SSMAS_OPS_ALERTMANAGER_URL": ""})
    assert done.exit_code == 2 and "no Alertmanager" in done.output
    down = runner.invoke(cli_app, ["ops", "alerts", "--alertmanager", "http://127.0.0.1:9"])
    assert down.exit_code == 2 and "did not answer" in down.output
    assert "Traceback" not in down.output


@pytest.mark.slow
def test_stack_says_why_when_a_port_is_taken(tmp_path: Path) -> None:
    tool("prometheus"), tool("prometheus-alertmanager")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = CliRunner().invoke(
            cli_app,
            [
                "ops",
                "stack",
                "--for",
                "2s",
                "--workdir",
                str(tmp_path),
                "--prometheus-port",
                port,
                "--alertmanager-port",
                str(free_port()),
                "--rules",
                str(RULES.parent),
                "--alertmanager-config",
                str(ALERTMANAGER),
            ],
        )
    assert done.exit_code == 2
    assert "prometheus exited" in done.output and "address already in use" in done.output
    assert len(done.output.strip().splitlines()) == 1
