"""The deployment files parse and name only real things.

Every metric a rule or a Grafana panel uses is one the platform exports (the registry's names,
collected in-process after importing every module) or a recording rule the rules define; every
worker Deployment or compose service runs a product that declares workers, and every such product
has one; every probe and health check calls a route the app serves; autoscalers and disruption
budgets point at Deployments that exist.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

import ssmas
from ssmas.bootstrap import all_products, create_app
from ssmas.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))
COMPOSE = DEPLOY / "compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
# Series Prometheus itself makes: scrape health and the alerts it evaluates.
PROMETHEUS_SERIES = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds"}
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_NAME = re.compile(r"(?<![A-Za-z0-9_:.$])([A-Za-z_:][A-Za-z0-9_:]*)")


@pytest.fixture(scope="module")
def exported() -> set[str]:
    """Every sample name the platform's registry can export (all modules imported)."""
    for info in pkgutil.walk_packages(ssmas.__path__, "ssmas."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
    from ssmas.core import metrics

    # Described metrics (labelled ones too, before any sample) plus what collectors such as the
    # process collector produce when scraped.
    names = set(metrics.REGISTRY._names_to_collectors)
    names |= {sample.name for family in metrics.REGISTRY.collect() for sample in family.samples}
    return names


class Served:
    """Answers whether the started app serves a path (anything but 404)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.client.get(path).status_code != 404


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The started app (its routes are mounted at start-up), asked path by path."""
    data = tmp_path_factory.mktemp("routes") / "data"
    app = create_app(settings=Settings(profile="test", data_dir=data))
    with TestClient(app) as client:
        served = Served(client)
        assert "/no/such/route" not in served
        yield served


def metric_names(expr: str) -> set[str]:
    """Names in a PromQL expression that are series (``ssmas_*``, ``process_*``, recording
    rules with a colon, Prometheus's own series), leaving functions, labels and strings out."""
    bare = _QUOTED.sub('""', expr)
    bare = re.sub(r"\{[^}]*\}", "{}", bare)  # label matchers
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)
    found = set(_NAME.findall(bare))
    return {
        n
        for n in found
        if n.startswith(("ssmas_", "process_")) or ":" in n or n in PROMETHEUS_SERIES
    }


def rule_documents() -> list[dict[str, Any]]:
    groups = [g for path in RULES for g in yaml.safe_load(path.read_text())["groups"]]
    return [rule for group in groups for rule in group["rules"]]


def recorded() -> set[str]:
    return {r["record"] for r in rule_documents() if "record" in r}


def dashboard_exprs() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{path.name}: {panel['title']}", target["expr"]))
    return found


def test_metric_name_extraction_ignores_functions_labels_and_strings() -> None:
    expr = (
        'sum by (job, le) (rate(ssmas_api_requests_total{route!="/metrics", status=~"5.."}[5m]))'
        ' / on (job) ssmas:api_requests:rate5m and up{job=~"ssmas.*"} == 0'
        " and process_resident_memory_bytes > 4 * 1024"
    )
    assert metric_names(expr) == {
        "ssmas_api_requests_total",
        "ssmas:api_requests:rate5m",
        "up",
        "process_resident_memory_bytes",
    }


def test_every_metric_the_rules_use_is_exported_or_recorded(exported: set[str]) -> None:
    known = exported | recorded() | PROMETHEUS_SERIES
    for rule in rule_documents():
        used = metric_names(rule["expr"])
        assert used, f"{rule.get('alert') or rule.get('record')} uses no metric"
        missing = used - known
        assert not missing, f"{rule.get('alert') or rule.get('record')} uses {missing}"


def test_the_exported_names_include_what_the_rules_are_built_on(exported: set[str]) -> None:
    # A rename in the code must fail here, not silently blind an alert.
    assert {
        "ssmas_api_requests_total",
        "ssmas_api_request_duration_seconds_bucket",
        "ssmas_pricing_prediction_latency_seconds_sum",
        "ssmas_pricing_drift_score_ratio",
        "ssmas_bus_published_total",
        "ssmas_bus_acked_total",
    } <= exported
    assert "ssmas_no_such_metric_total" not in exported


def test_every_dashboard_panel_uses_exported_metrics(exported: set[str]) -> None:
    assert DASHBOARDS, "deploy/grafana/dashboards holds no dashboard"
    known = exported | recorded() | PROMETHEUS_SERIES
    exprs = dashboard_exprs()
    assert len(exprs) >= 10
    for where, expr in exprs:
        used = metric_names(expr)
        assert used and not used - known, f"{where}: {used - known}"


def test_dashboards_are_grafana_json_on_the_provisioned_datasource() -> None:
    datasource = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == datasource["uid"]
            assert {"x", "y", "w", "h"} <= set(panel["gridPos"])


def k8s_documents() -> list[dict[str, Any]]:
    return [doc for path in K8S for doc in yaml.safe_load_all(path.read_text()) if doc]


def products_with_workers() -> dict[str, set[str]]:
    return {p.name: {w.name for w in p.workers} for p in all_products() if p.workers}


def worker_args(args: list[str]) -> tuple[str, list[str]]:
    assert args[0] == "worker", args
    product, rest = args[1], args[2:]
    only = [rest[i + 1] for i, a in enumerate(rest) if a == "--only"]
    return product, only


def test_kubernetes_worker_deployments_match_the_products_workers() -> None:
    declared = products_with_workers()
    deployed: set[str] = set()
    for doc in k8s_documents():
        if doc["kind"] != "Deployment":
            continue
        container = doc["spec"]["template"]["spec"]["containers"][0]
        if container["args"][0] != "worker":
            continue
        product, only = worker_args(container["args"])
        assert product in declared, f"{doc['metadata']['name']} runs {product}: no such workers"
        assert set(only) <= declared[product]
        deployed.add(product)
    assert deployed == set(declared), "every product with workers needs a Deployment"


def test_kubernetes_probes_call_routes_that_exist(routes: Served) -> None:
    probed = 0
    for doc in k8s_documents():
        if doc["kind"] != "Deployment":
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                if probe in container:
                    path = container[probe]["httpGet"]["path"]
                    assert path in routes, f"{doc['metadata']['name']} {probe} calls {path}"
                    probed += 1
            scrape = doc["spec"]["template"]["metadata"].get("annotations", {})
            if "prometheus.io/path" in scrape:
                assert scrape["prometheus.io/path"] in routes
    assert probed >= 3


def test_autoscalers_and_disruption_budgets_point_at_deployments() -> None:
    docs = k8s_documents()
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    for doc in docs:
        if doc["kind"] == "HorizontalPodAutoscaler":
            target = doc["spec"]["scaleTargetRef"]["name"]
            assert target in deployments
            assert doc["spec"]["minReplicas"] <= doc["spec"]["maxReplicas"]
        if doc["kind"] in {"PodDisruptionBudget", "Service"}:
            spec = doc["spec"]["selector"]
            selector = spec.get("matchLabels", spec)
            assert any(
                selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
                for d in deployments.values()
            ), f"{doc['kind']} {doc['metadata']['name']} selects no pod"
    for deployment in deployments.values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_compose_file_runs_the_platform_and_its_monitoring(routes: Served) -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"api", "postgres", "redis", "prometheus", "alertmanager", "grafana"} <= set(services)
    workers = {}
    for service in services.values():
        command = service.get("command", [])
        if command[:1] == ["worker"]:
            product, only = worker_args(command)
            workers[product] = only
    declared = products_with_workers()
    assert set(workers) == set(declared)
    for volume in [v for s in services.values() for v in s.get("volumes", [])]:
        source = volume.split(":", 1)[0]
        if source.startswith("./"):
            assert (DEPLOY / source).exists(), f"compose mounts missing {source}"
    health = " ".join(services["api"]["healthcheck"]["test"])
    path = re.search(r"127\.0\.0\.1:8000(/[a-z]+)", health)
    assert path and path.group(1) in routes
    assert services["api"]["command"][0] == "serve"


def test_the_dockerfile_serves_the_api_and_checks_a_real_route(routes: Served) -> None:
    text = DOCKERFILE.read_text()
    lines = [line.strip() for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0].startswith("FROM python:3.11")
    for line in lines:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    assert 'ENTRYPOINT ["ssmas"]' in text and 'CMD ["serve"]' in text
    health = re.search(r"127\.0\.0\.1:(\d+)(/[a-z]+)", text)
    assert health and health.group(2) in routes
    assert f"EXPOSE {health.group(1)}" in text
    assert "USER 10001" in text


def test_prometheus_for_compose_loads_the_rules_and_sends_to_alertmanager() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    compose = yaml.safe_load(COMPOSE.read_text())
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./prometheus/rules:/etc/prometheus/rules:ro" in mounts
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    # The rules select the platform's jobs by job=~"ssmas.*".
    assert any(job.startswith("ssmas") for job in jobs)
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]


def setting_names() -> set[str]:
    """Every SSMAS_* variable Settings reads (sections as SSMAS_<SECTION>_<FIELD>)."""
    names = set()
    for name, info in Settings.model_fields.items():
        names.add(f"SSMAS_{name.upper()}")
        section = info.annotation
        for field in getattr(section, "model_fields", {}):
            names.add(f"SSMAS_{name.upper()}_{field.upper()}")
    return names


def test_the_deployments_set_only_settings_that_exist() -> None:
    known = setting_names()
    assert "SSMAS_OPS_ALERTMANAGER_URL" in known and "SSMAS_NO_SUCH" not in known
    compose = yaml.safe_load(COMPOSE.read_text())
    used = set(compose["x-platform"]["environment"])
    config = next(d for d in k8s_documents() if d["kind"] == "ConfigMap")
    used |= set(config["data"])
    dockerfile = re.findall(r"\b(SSMAS_[A-Z_]+)=", DOCKERFILE.read_text())
    used |= set(dockerfile)
    assert used and used <= known, used - known
