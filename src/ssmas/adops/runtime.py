"""AdOps' per-process wiring: the incident manager and the stream job built from settings."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ssmas.adops.incidents import CorrelationPolicy, IncidentError, IncidentService
from ssmas.adops.incidents.service import IngestResult
from ssmas.adops.stream.alerts import Alert
from ssmas.adops.stream.composite import (
    CompositeRuleError,
    CompositeRules,
    default_rules,
    parse_rules,
)
from ssmas.adops.stream.job import StreamJob
from ssmas.core.notify import notifier_from_urls
from ssmas.core.platform import Platform
from ssmas.settings import IncidentSettings

RUNTIME = "adops.incidents"


def policy_of(settings: IncidentSettings) -> CorrelationPolicy:
    return CorrelationPolicy(
        correlation_window=timedelta(minutes=settings.correlation_window_min),
        group_window=timedelta(minutes=settings.group_window_min),
        group_span=timedelta(minutes=settings.group_span_min),
        auto_resolve_after=timedelta(minutes=settings.auto_resolve_min),
    )


def rules_of(settings: IncidentSettings) -> CompositeRules:
    """The configured composite rules; :class:`CompositeRuleError` names a bad file."""
    if settings.rules_file is None:
        return default_rules()
    try:
        text = settings.rules_file.read_text()
    except OSError as exc:
        raise CompositeRuleError(f"cannot read {settings.rules_file}: {exc.strerror}") from None
    return parse_rules(text)


def incident_service(platform: Platform) -> IncidentService:
    """The platform's incident manager, built once per process."""

    def build(p: Platform) -> IncidentService:
        section = p.settings.incidents
        return IncidentService(
            p.engine, notifier=notifier_from_urls(section.notify_urls), policy=policy_of(section)
        )

    return platform.runtime_or_build(RUNTIME, IncidentService, build)


def ingest_alert(platform: Platform, alert: Alert | Mapping[str, Any]) -> IngestResult:
    """Take one alert into the platform's incidents: the event rules' ``incident`` target.

    ``alert`` is an :class:`Alert` or its JSON form (an event's ``detail``); the same alert
    twice is a no-op. :class:`IncidentError` says what is wrong with a malformed one.
    """
    if not isinstance(alert, Alert):
        try:
            alert = Alert.model_validate(alert)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "alert"
            raise IncidentError(f"invalid alert: {where}: {first['msg']}") from None
    return incident_service(platform).ingest_alert(alert)


def detector_registry(platform: Platform) -> Any:
    """The platform's model registry (MLflow), where trained detectors wait for approval;
    built once per process, its changes announced on the platform's bus."""
    from ssmas.core.registry import ModelRegistry, registry_from_settings

    def build(p: Platform) -> ModelRegistry:
        return registry_from_settings(p.settings, bus=p.bus)

    return platform.runtime_or_build("adops.registry", ModelRegistry, build)


def stream_job(platform: Platform) -> StreamJob:
    from ssmas.adops.stream.registry import load_active_detector

    section = platform.settings.incidents

    def models() -> Any:
        uri = platform.settings.resolved_mlflow_uri
        if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
            return None  # no registry yet, so no approved detector (and no MLflow start-up)
        return load_active_detector(detector_registry(platform))

    return StreamJob(
        platform.engine,
        platform.bus,
        incident_service(platform),
        rules=rules_of(section),
        checkpoint_s=section.checkpoint_s,
        models=models,
    )


def run_stream_worker(platform: Platform, stop: threading.Event) -> None:
    """The ``stream`` worker: the stream job until ``stop``."""
    stream_job(platform).run(stop)
