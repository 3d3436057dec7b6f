"""One settings object for the whole platform (environment prefix ``SSMAS_``).

Every default is the embedded one: SQLite under the data directory, an in-process cache and the
SQLite bus, so the platform runs on a laptop with no server. Point ``SSMAS_DATABASE_URL`` at
PostgreSQL and ``SSMAS_REDIS_URL`` at Redis to scale out.

Product sections are nested models read from ``SSMAS_<SECTION>_<FIELD>``: ``settings.whatsapp``
from ``SSMAS_WHATSAPP_*`` (e.g. ``SSMAS_WHATSAPP_SEND_RATE_PER_S``), ``settings.pricing`` from
``SSMAS_PRICING_*``. This is the only module that reads or writes the process environment:
code takes a ``Settings`` (``platform.settings``), entry points :func:`get_settings`, and
:func:`export_environment` hands settings to worker processes. Every field has a description;
``python -m ssmas.settings`` writes the reference page, ``docs/settings.md``.

With ``SSMAS_PROFILE=prod`` the secrets must be real: not a placeholder, and (all but the
Meta-issued access token) at least 32 bytes with varied characters (:func:`weak_secret`); the
PII key must be a Fernet key. Refusals name the variable and never print a value: the models
hide their input in validation errors and :func:`settings_error` leaves secrets' values out.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "dev-secret", "placeholder"}
)
# The public default every data directory used to sign sessions with; refused now (see
# ssmas.core.security.secret_file for the random per-data-directory secret that replaced it).
DEV_SECRET = "dev-secret"
# The WhatsApp channel's local defaults: the sample payloads' app secret and the fake's tokens.
DEV_APP_SECRET = "test_app_secret_123"
DEV_VERIFY_TOKEN = "my-verify-token"
DEV_ACCESS_TOKEN = "dev-access-token"
DEV_SMS_TOKEN = "dev-sms-auth-token"  # the fake SMS provider's
WHATSAPP_PLACEHOLDERS = PLACEHOLDER_SECRETS | {DEV_APP_SECRET, DEV_VERIFY_TOKEN, DEV_ACCESS_TOKEN}
# The product sections of Settings (nested models, SSMAS_<SECTION>_<FIELD>).
SECTIONS = ("whatsapp", "pricing", "adops", "incidents", "campaigns", "ops")


# Fields whose values never appear in an error message.
SECRET_FIELDS = frozenset(
    {
        "secret_key",
        "pii_key",
        "llm_api_key",
        "agent_pricing_key",
        "app_secret",
        "verify_token",
        "access_token",
        "auth_token",
    }
)
MIN_SECRET_BYTES = 32
MIN_SECRET_BITS_PER_CHAR = 3.0  # Shannon entropy of the characters: "aaaa…" 0, hex ~3.7-4
WEAK_SECRET_HINT = (
    "at least 32 bytes of varied characters, e.g. "
    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
)


def is_placeholder(secret: str) -> bool:
    return secret.strip().lower() in WHATSAPP_PLACEHOLDERS


def weak_secret(secret: str) -> bool:
    """True when ``secret`` is shorter than 32 bytes or its characters vary too little."""
    raw = secret.encode("utf-8")
    if len(raw) < MIN_SECRET_BYTES:
        return True
    counts = Counter(secret)
    bits = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    return bits < MIN_SECRET_BITS_PER_CHAR


def is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
    except (binascii.Error, ValueError):
        return False


class WhatsAppSettings(BaseModel):
    """The WhatsApp channel (``SSMAS_WHATSAPP_*``): webhook secrets, the Graph API endpoint, the
    sending limits of one business number, and the assistant's context and session limits.

    Every default is the local one (the Graph API fake, the sample app secret), so a laptop
    needs no Meta account; ``SSMAS_PROFILE=prod`` refuses those placeholder secrets.
    """

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    verify_token: str = Field(
        default=DEV_VERIFY_TOKEN, description="token Meta echoes when it verifies the webhook"
    )
    app_secret: str = Field(
        default=DEV_APP_SECRET, description="app secret that signs webhook bodies (HMAC-SHA256)"
    )
    graph_url: str = Field(
        default="http://127.0.0.1:8765/v23.0", description="Graph API base URL with its version"
    )
    access_token: str = Field(default=DEV_ACCESS_TOKEN, description="Graph API bearer token")
    phone_number_id: str = Field(
        default="106540352242922", description="the business number messages are sent from"
    )
    max_body_bytes: int = Field(default=256 * 1024, description="largest webhook body accepted")
    send_rate_per_s: float = Field(default=80.0, gt=0, description="sends per second per number")
    send_burst: int | None = Field(
        default=None, ge=1, description="sends at once per number; default: one second's worth"
    )
    recipient_rate_per_s: float = Field(
        default=1.0, gt=0, description="sends per second to one user"
    )
    recipient_burst: int = Field(default=20, ge=1, description="sends at once to one user")
    pacing_backend: Literal["memory", "redis"] | None = Field(
        default=None,
        description="where the send buckets live; default: SSMAS_RATE_LIMIT_BACKEND",
    )
    pacing_redis_url: str | None = Field(
        default=None, description="Redis for shared send buckets; default: SSMAS_REDIS_URL"
    )
    send_timeout_s: float = Field(default=10.0, description="timeout of one Graph API request")
    send_attempts: int = Field(default=4, ge=1, description="tries per request, the first included")
    pair_limit_backoff_s: float = Field(
        default=2.0, description="wait after Meta's per-user pair rate limit (error 131056)"
    )
    retry_backoff_s: float = Field(
        default=0.2, description="first wait before a retry; doubles each try, with jitter"
    )
    retry_cap_s: float = Field(default=30.0, description="longest wait between two tries")
    retry_max_elapsed_s: float = Field(
        default=120.0, description="no new try of a request starts later than this after the first"
    )
    reengagement_template: str = Field(
        default="reengagement", description="template sent outside the 24 h customer window"
    )
    window_hours: float = Field(
        default=24.0, description="customer service window: free-form replies within it"
    )
    context_turns: int = Field(default=10, description="conversation turns kept as context")
    context_token_budget: int = Field(default=600, description="tokens of context kept at most")
    context_ttl_s: float = Field(default=1800.0, description="an idle conversation context expires")
    session_idle_s: float = Field(default=24 * 3600.0, description="an idle session closes")
    send_lease_s: float = Field(
        default=8.0,
        gt=0,
        description=(
            "the one lease of the channel: a reply claimed for sending, and (unless"
            " visibility_timeout_s says otherwise) a queued message handed to a worker, go to"
            " another worker after this; media keeps 300 s"
        ),
    )
    visibility_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="redelivery timeout of the assistant's queues; default: send_lease_s",
    )
    text_partitions: int = Field(
        default=4,
        ge=1,
        le=64,
        description=(
            "partitions of the text queue: one worker process per partition, so one customer's"
            " messages stay in order; change only with the queue drained"
        ),
    )
    brain: str = Field(
        default="",
        description="module:attribute of a callable(Settings) -> Brain; empty: the trained NLU",
    )
    inbound_sender_per_min: float = Field(
        default=20.0,
        ge=0,
        description=(
            "messages a customer may send per minute and still get answers (burst:"
            " inbound_sender_burst); beyond it they are stored, not answered; 0: no limit"
        ),
    )
    inbound_sender_burst: int = Field(default=10, ge=1, description="a customer's burst")
    inbound_number_per_s: float = Field(
        default=1000.0,
        ge=0,
        description=(
            "webhook deliveries per second per business number; beyond it the webhook answers"
            " 429 and Meta delivers again later; 0: no limit"
        ),
    )
    retention_messages_days: float = Field(
        default=365.0,
        ge=0,
        description="messages and the assistant's bus topics older than this go; 0 keeps",
    )
    retention_media_days: float = Field(
        default=90.0, ge=0, description="downloaded media older than this is deleted; 0 keeps"
    )
    retention_conversations_days: float = Field(
        default=730.0,
        ge=0,
        description="a conversation idle this long is erased with everything of it; 0 keeps",
    )
    retention_sweep_s: float = Field(
        default=3600.0, gt=0, description="seconds between two passes of the retention worker"
    )
    voice_engine: Literal["whisper", "http", "pocketsphinx", "none"] = Field(
        default="whisper",
        description=(
            "speech to text for voice notes: whisper (offline, Spanish and English), http (an"
            " OpenAI-compatible /audio/transcriptions service, whisper when it fails),"
            " pocketsphinx (offline, English only) or none (customers are asked to write)"
        ),
    )
    voice_api_url: str = Field(
        default="",
        description="base URL of the transcription service (voice_engine=http), e.g. .../v1",
    )
    voice_api_key: str = Field(default="", description="its bearer token; empty: none sent")
    voice_api_model: str = Field(default="whisper-1", description="the model it is asked for")
    voice_api_timeout_s: float = Field(
        default=30.0, gt=0, description="seconds to wait for it before the offline engine"
    )
    voice_model_dir: str = Field(
        default="",
        description=(
            "a CTranslate2 Whisper model directory to use instead of the bundled Whisper base;"
            " empty: the bundled one"
        ),
    )
    voice_min_confidence: float = Field(
        default=0.55,
        ge=0,
        le=1,
        description=(
            "a voice note heard with a lower mean token probability is not acted on: the"
            " customer is asked to write"
        ),
    )
    escalation_notify_urls: list[str] = Field(
        default_factory=list,
        description=(
            "notifier URLs told of every escalation and SLA breach (JSON list: webhook+https://,"
            " slack+https://, smtp://, pagerduty://); empty: log"
        ),
    )

    sla_first_response_minutes: dict[str, float] = Field(
        default_factory=lambda: {"urgent": 5.0, "high": 15.0, "medium": 60.0, "low": 240.0},
        description="first agent reply due this many minutes after an escalation, by priority",
    )
    sla_resolution_minutes: dict[str, float] = Field(
        default_factory=lambda: {
            "urgent": 60.0,
            "high": 240.0,
            "medium": 1440.0,
            "low": 4320.0,
        },
        description=(
            "an escalation resolved within this many minutes, by priority (paused while the"
            " conversation is pending: waiting for the customer)"
        ),
    )
    csat_survey: bool = Field(
        default=True, description="ask for a 1-5 satisfaction score when an agent resolves"
    )
    csat_answer_hours: float = Field(
        default=72.0, gt=0, description="a survey answer counts within this many hours"
    )

    @model_validator(mode="after")
    def _sla_priorities(self) -> WhatsAppSettings:
        wanted = {"urgent", "high", "medium", "low"}
        for name in ("sla_first_response_minutes", "sla_resolution_minutes"):
            table: dict[str, float] = getattr(self, name)
            if set(table) != wanted or any(v <= 0 for v in table.values()):
                raise ValueError(
                    f"{name} needs a positive number of minutes for each of urgent, high,"
                    f" medium and low, not {table}"
                )
        return self

    @model_validator(mode="after")
    def _voice_service_named(self) -> WhatsAppSettings:
        if self.voice_engine == "http" and not self.voice_api_url.startswith(
            ("http://", "https://")
        ):
            raise ValueError("voice_engine=http needs voice_api_url (http:// or https://)")
        return self

    @model_validator(mode="after")
    def _notifier_urls_parse(self) -> WhatsAppSettings:
        from ssmas.core.notify import notifier_from_url

        for url in self.escalation_notify_urls:
            notifier_from_url(url)  # ValueError names the expected form
        return self

    @property
    def app_secret_bytes(self) -> bytes:
        return self.app_secret.encode("utf-8")

    @property
    def number_burst(self) -> int:
        return self.send_burst or max(1, int(self.send_rate_per_s))

    def placeholder_secrets(self) -> list[str]:
        """The environment names of the secrets still at a placeholder value."""
        secrets = {
            "SSMAS_WHATSAPP_APP_SECRET": self.app_secret,
            "SSMAS_WHATSAPP_VERIFY_TOKEN": self.verify_token,
            "SSMAS_WHATSAPP_ACCESS_TOKEN": self.access_token,
        }
        return [name for name, value in secrets.items() if is_placeholder(value)]

    def weak_secrets(self) -> list[str]:
        """The environment names of the chosen secrets that are too weak for production (the
        access token is Meta's, whatever its length)."""
        secrets = {
            "SSMAS_WHATSAPP_APP_SECRET": self.app_secret,
            "SSMAS_WHATSAPP_VERIFY_TOKEN": self.verify_token,
        }
        return [name for name, value in secrets.items() if weak_secret(value)]


class PricingSettings(BaseModel):
    """Pricing (``SSMAS_PRICING_*``): the scorer service, its monitoring and retention, and the
    retraining worker. Every default is the local one."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    registry_model: str = Field(
        default="pricing-cpm", description="MLflow registered model served and retrained"
    )
    timeout_ms: float = Field(
        default=50.0, gt=0.0, le=60_000.0, description="scoring timeout of one request"
    )
    batch_timeout_ms: float = Field(
        default=250.0, gt=0.0, le=60_000.0, description="scoring timeout of one batch"
    )
    challenger_share: float = Field(
        default=0.2, ge=0.0, le=1.0, description="share of impressions priced by the challenger"
    )
    challenger_enabled: bool = Field(
        default=True, description="serve the challenger when one is registered"
    )
    capture_share: float = Field(
        default=0.1, ge=0.0, le=1.0, description="share of requests captured for drift checks"
    )
    fallback_cpm: float = Field(
        default=2.0,
        ge=0.0,
        allow_inf_nan=False,
        description="EUR CPM answered when no model can (and no segment mean is known)",
    )
    max_in_flight: int = Field(
        default=256, ge=1, description="requests on the scoring thread before answering fallback"
    )
    load_models: bool = Field(
        default=True, description="load models from the registry and hot-reload them"
    )
    require_model: bool = Field(
        default=False,
        description=(
            "/ready fails while no champion model is loaded (set it on every host behind a load"
            " balancer: a host that cannot reach the registry takes no traffic)"
        ),
    )
    reload_interval_s: float = Field(
        default=30.0, ge=0.0, description="registry poll for new models; 0: model events only"
    )
    injected_delay_ms: float = Field(
        default=0.0, ge=0.0, description="drills: make every model call this much slower"
    )
    drift_interval_s: float = Field(
        default=300.0, ge=0.0, description="period of the serving drift check; 0: off"
    )
    drift_window_s: float = Field(
        default=3600.0, gt=0.0, description="captures and outcomes one drift check reads"
    )
    recent_predictions: int = Field(
        default=100_000, ge=0, description="recent predictions kept in memory per variant"
    )
    retention_hours: float = Field(
        default=168.0,
        ge=0.0,
        allow_inf_nan=False,
        description="keep captures, floor decisions and outcomes this long; 0: forever",
    )
    drift_report_retention_hours: float = Field(
        default=2160.0,
        ge=0.0,
        allow_inf_nan=False,
        description="keep drift reports this long; 0: forever",
    )
    prune_interval_s: float = Field(
        default=600.0, ge=0.0, allow_inf_nan=False, description="period of the pruner; 0: off"
    )
    lake: Path | None = Field(
        default=None,
        description="data lake the retraining worker reads; default <data_dir>/lake, "
        "else the demo lake",
    )
    retrain_window_days: int = Field(
        default=2, ge=1, le=60, description="freshest days the retraining worker trains on"
    )
    retrain_interval_s: float = Field(
        default=3600.0,
        gt=0.0,
        allow_inf_nan=False,
        description="period of the retraining worker's drift check",
    )
    retrain_label_shift: float = Field(
        default=0.1,
        gt=0.0,
        le=10.0,
        description="retrain now when the median clearing price moved more than this share",
    )
    retrain_error_growth: float = Field(
        default=0.15,
        gt=0.0,
        le=10.0,
        description="retrain now when the champion's RMSE grew more than this share",
    )
    promotion_min_gain: float = Field(
        default=0.02,
        ge=0.0,
        lt=1.0,
        description="relative live RMSE gain a challenger must prove before promotion",
    )
    promotion_alpha: float = Field(
        default=0.05, gt=0.0, lt=1.0, description="error rate of the sequential promotion test"
    )
    promotion_min_outcomes: int = Field(
        default=200, ge=2, description="live outcomes per variant before the test can promote"
    )
    promotion_check_interval_s: float = Field(
        default=300.0,
        ge=0.0,
        allow_inf_nan=False,
        description="period of the worker's online promotion check; 0: off",
    )
    alert_urls: list[str] = Field(
        default_factory=list,
        description="notifier URLs receiving pricing alerts (JSON list); empty: log",
    )
    alert_repeat_s: float = Field(
        default=3600.0, gt=0.0, description="repeat a persisting alert after this long"
    )
    alert_latency_p99_ms: float = Field(
        default=50.0, gt=0.0, description="alert when the scoring p99 exceeds this"
    )
    alert_error_rate: float = Field(
        default=0.01,
        gt=0.0,
        le=1.0,
        description="alert when this share of requests fails or falls back",
    )

    @model_validator(mode="after")
    def _retention_covers_drift_window(self) -> PricingSettings:
        """Refuse a retention that would delete rows the drift check still reads: each drift
        run reads the last ``drift_window_s`` of captures and outcomes."""
        if 0.0 < self.retention_hours * 3600.0 < self.drift_window_s:
            raise ValueError(
                f"SSMAS_PRICING_RETENTION_HOURS={self.retention_hours:g} keeps less than the "
                f"drift window (SSMAS_PRICING_DRIFT_WINDOW_S={self.drift_window_s:g} s = "
                f"{self.drift_window_s / 3600.0:g} h): keep at least "
                f"{self.drift_window_s / 3600.0:g} h, or 0 to keep everything"
            )
        return self


class OpsSettings(BaseModel):
    """Ops (``SSMAS_OPS_*``): where the platform finds its Prometheus and Alertmanager, if any.
    With neither set, the dashboard's alerts come from the platform's own readiness checks."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    alertmanager_url: str | None = Field(
        default=None, description="Alertmanager base URL (http://host:9093) whose alerts to show"
    )
    prometheus_url: str | None = Field(
        default=None, description="Prometheus base URL (http://host:9090), linked from the page"
    )
    alertmanager_timeout_s: float = Field(
        default=2.0, gt=0, le=30, description="timeout of one call to Alertmanager's API"
    )
    backup_dir: Path | None = Field(
        default=None,
        description="where backups are written; default <data_dir>/backups (put it on another "
        "disk or mount in production)",
    )
    backup_key: str | None = Field(
        default=None,
        description="backup encryption key (32 url-safe base64 bytes, `ssmas backup key`); "
        "default: a random key written once to <data_dir>/backup_key (0600); must be set in prod",
    )
    backup_interval_s: float = Field(
        default=300.0, gt=0, le=7 * 86400, description="how often the backup worker runs"
    )
    backup_keep: int = Field(default=24, ge=1, le=10_000, description="backups kept (newest N)")
    backup_keep_days: float | None = Field(
        default=7.0, gt=0, description="backups older than this are deleted (the newest stays)"
    )
    heal_check_interval_s: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="how often `ssmas up`'s supervisor checks its workers",
    )
    heal_start_grace_s: float = Field(
        default=60.0,
        gt=0,
        description="a new worker process's time to start before its heartbeat counts",
    )
    heal_heartbeat_timeout_s: float = Field(
        default=20.0, gt=0, description="a worker whose /metrics heartbeat is older is restarted"
    )
    heal_backoff_s: float = Field(
        default=0.5, ge=0, description="wait before the first restart; doubles per recent restart"
    )
    heal_backoff_max_s: float = Field(
        default=30.0, gt=0, description="longest wait between restarts"
    )
    heal_crash_loop_restarts: int = Field(
        default=5,
        ge=1,
        description="restarts within heal_crash_loop_window_s that open the breaker",
    )
    heal_crash_loop_window_s: float = Field(
        default=120.0, gt=0, description="window in which restarts count as a crash loop"
    )
    heal_breaker_s: float = Field(
        default=300.0,
        gt=0,
        description="an open breaker's first pause; doubles each time it reopens",
    )
    heal_max_rss_mb: float = Field(
        default=2048.0, gt=0, description="a worker process above this resident memory is restarted"
    )
    heal_error_rate: float = Field(
        default=0.5, gt=0, le=1, description="share of nacked deliveries that restarts a worker"
    )
    heal_error_min: int = Field(
        default=20, ge=1, description="deliveries a check window needs before its error rate counts"
    )
    heal_latency_s: float = Field(
        default=30.0, gt=0, description="mean handling time per delivery that restarts a worker"
    )
    heal_scale_depth: int = Field(
        default=1000,
        ge=1,
        description="backlog of a worker's groups that adds a replica (seed 000)",
    )
    heal_scale_age_s: float = Field(
        default=300.0, gt=0, description="age of a worker's oldest waiting message that adds one"
    )
    heal_scale_cooldown_s: float = Field(
        default=60.0, ge=0, description="least time between two scalings of one worker"
    )
    heal_shed_depth: int = Field(
        default=5000, ge=1, description="backlog at full scale that sheds the product's API writes"
    )
    heal_shed_s: float = Field(default=30.0, gt=0, description="how long one shedding lasts")
    heal_alert_urls: list[str] = Field(
        default_factory=list,
        description="notifier URLs (ssmas.core.notify) alerted when healing fails; none: the log",
    )
    pii_key_refresh_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="how often a process re-reads the PII key ring (a rotation waits this long "
        "before its final pass)",
    )
    pii_retire_after_s: float = Field(
        default=600.0,
        ge=0,
        le=30 * 86400,
        description="a rotated-out PII key can be retired this long after it stopped "
        "encrypting (bus messages and cached context sealed under it drain first)",
    )


class AdopsSettings(BaseModel):
    """AdOps (``SSMAS_ADOPS_*``): the event bus rules, their targets and the event archive."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    rules_file: Path | None = Field(
        default=None,
        description="YAML file of event rules; default the rules shipped in ssmas.adops.events",
    )
    events_topic: str = Field(
        default="adops.events",
        min_length=1,
        max_length=180,
        pattern=r"^[A-Za-z0-9_.\-]+$",
        description="bus topic the event rules consume (dead letters on <topic>.dlq)",
    )
    notify_urls: list[str] = Field(
        default_factory=list,
        description="notifier URLs of `notify` targets without urls (JSON list); empty: log",
    )
    archive_dir: Path | None = Field(
        default=None, description="event archive (Parquet); default <data_dir>/lake/events/adops"
    )
    dispatch_batch: int = Field(
        default=200, ge=1, le=5000, description="events the rules worker takes per batch"
    )
    dispatch_visibility_s: float = Field(
        default=120.0,
        gt=0.0,
        le=3600.0,
        description="seconds a taken batch stays invisible before redelivery",
    )
    archive_retention_days: int = Field(
        default=30,
        ge=0,
        le=36500,
        description="days of archived events kept (the seed's 30); 0: all",
    )
    ledger_retention_days: float = Field(
        default=7.0,
        gt=0.0,
        le=365.0,
        description="days a delivery stays in the ledger (longer than any redelivery)",
    )


class IncidentSettings(BaseModel):
    """AdOps stream and incidents (``SSMAS_INCIDENTS_*``): correlation windows, notifiers and
    the stream job's checkpoints. Windows are in minutes of stream (simulated) time."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    correlation_window_min: float = Field(
        default=30.0,
        gt=0.0,
        le=1440.0,
        description="an entity's alerts this close join one incident",
    )
    group_window_min: float = Field(
        default=10.0,
        gt=0.0,
        le=1440.0,
        description="downstream alerts this close join an upstream incident",
    )
    group_span_min: float = Field(
        default=60.0,
        gt=0.0,
        le=1440.0,
        description="an entity new to an incident joins it only this soon after it opened",
    )
    auto_resolve_min: float = Field(
        default=30.0,
        gt=0.0,
        le=10080.0,
        description="an incident this long without alerts resolves itself",
    )
    notify_urls: list[str] = Field(
        default_factory=list,
        description="notifier URLs (log:, webhook+https://, slack+https://, smtp://); none: log",
    )
    rules_file: Path | None = Field(
        default=None, description="composite rules YAML (default: the seed's rules)"
    )
    checkpoint_s: float = Field(
        default=2.0, gt=0.0, le=600.0, description="seconds between the stream job's checkpoints"
    )
    agent_mode: Literal["active", "shadow"] = Field(
        default="shadow", description="AdOps agents: shadow proposes and logs only; active acts"
    )
    agent_approvers: list[str] = Field(
        default_factory=list, description="names allowed to approve the agents' high-risk actions"
    )
    approval_ttl_min: float = Field(
        default=15.0, gt=0.0, le=1440.0, description="an approval request not decided expires"
    )
    agent_pricing_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="pricing API the agents set floors through (PUT /v2/ad-units/{id}/floor); "
        "unset: pricing's service in process",
    )
    agent_pricing_key: str | None = Field(
        default=None, description="API key (pricing:admin) the agents send to agent_pricing_url"
    )


class CampaignsSettings(BaseModel):
    """Campaigns (``SSMAS_CAMPAIGNS_*``): the SMS provider (any Twilio-compatible Messages API),
    the public URL its delivery receipts come back to, and the sending rules: quiet hours in
    the recipient's time zone, frequency caps per recipient and the per-tenant send rate.
    Every default is the local one (the fake provider of the tests and the demo)."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    provider_url: str = Field(
        default="http://127.0.0.1:8766",
        description="base URL of the Twilio-compatible API (https://api.twilio.com in prod)",
    )
    account_sid: str = Field(
        default="AC00000000000000000000000000000000", description="provider account SID"
    )
    auth_token: str = Field(
        default=DEV_SMS_TOKEN,
        description="provider auth token: basic auth, and the key of X-Twilio-Signature",
    )
    from_number: str = Field(default="+15005550006", description="the number SMS are sent from")
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="this API's public base URL, where receipts and inbound SMS come back",
    )
    send_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="timeout of one provider request"
    )
    send_attempts: int = Field(
        default=4, ge=1, le=20, description="tries per provider request, the first included"
    )
    quiet_start_hour: int = Field(
        default=21, ge=0, le=23, description="local hour from which nothing is sent"
    )
    quiet_end_hour: int = Field(
        default=9, ge=0, le=23, description="local hour at which sending may start again"
    )
    cap_per_day: int = Field(
        default=2, ge=1, description="messages to one recipient per 24 h, across campaigns"
    )
    cap_per_week: int = Field(
        default=5, ge=1, description="messages to one recipient per 7 days, across campaigns"
    )
    tenant_rate_per_s: float = Field(
        default=50.0, gt=0, le=1e6, description="sends per second per tenant"
    )
    tenant_burst: int = Field(default=100, ge=1, description="sends at once per tenant")
    sender_batch: int = Field(
        default=100, ge=1, le=10_000, description="ledger rows one sender claims at a time"
    )
    sender_concurrency: int = Field(
        default=8, ge=1, le=256, description="provider requests one sender has in flight"
    )
    lease_s: float = Field(
        default=30.0, gt=0, le=3600, description="a claim older than this is taken over"
    )
    whatsapp_template: str = Field(
        default="campaign_message",
        description="approved WhatsApp template whose one body parameter is the message",
    )
    whatsapp_language: str = Field(default="es_MX", description="that template's language")

    def placeholder_token_for_a_real_provider(self) -> bool:
        """Whether the dev auth token is set while the provider is not on this host (the token
        also checks the provider's signatures: a known one lets anyone forge receipts)."""
        host = (urlsplit(self.provider_url).hostname or "").lower()
        local = host in ("127.0.0.1", "localhost", "::1")
        placeholder = self.auth_token.strip().lower() in PLACEHOLDER_SECRETS | {DEV_SMS_TOKEN}
        return placeholder and not local


class Settings(BaseSettings):
    """Platform configuration; read from the environment (``SSMAS_*``) and an optional ``.env``."""

    # "_" with one split: SSMAS_WHATSAPP_SEND_RATE_PER_S -> whatsapp.send_rate_per_s
    model_config = SettingsConfigDict(
        env_prefix="SSMAS_",
        env_file=".env",
        extra="ignore",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        hide_input_in_errors=True,  # pydantic would print a secret's tail in its report
    )

    profile: Literal["dev", "test", "prod"] = Field(
        default="dev", description="prod refuses placeholder secrets"
    )
    data_dir: Path = Field(
        default=Path(".ssmas"), description="databases, models, lakes and logs of the platform"
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/ssmas.db"
    )
    redis_url: str | None = Field(default=None, description="redis://host:port/db, optional")
    bus_backend: Literal["sqlite", "redis"] = Field(
        default="sqlite", description="event bus: SQLite file or Redis streams"
    )
    bus_url: str | None = Field(default=None, description="default: <data_dir>/bus.db or redis_url")
    cache_backend: Literal["memory", "redis"] = Field(
        default="memory", description="cache: in process or Redis (redis_url)"
    )
    rate_limit_backend: Literal["memory", "redis"] = Field(
        default="memory", description="API rate-limit buckets: in process or Redis (redis_url)"
    )
    rate_limit_per_s: float = Field(
        default=10_000.0,
        gt=0,
        description="API requests per second per key without a tier (seed 003: 10k predictions/s)",
    )
    rate_limit_burst: int = Field(
        default=20_000, ge=1, description="API requests at once per key without a tier"
    )
    rate_limit_tiers: dict[str, tuple[float, int]] = Field(
        default_factory=lambda: {
            "basic": (200.0, 400),
            "standard": (10_000.0, 20_000),
            "premium": (50_000.0, 100_000),
        },
        description="per-key rate limits by the key's tier (ssmas keys create --tier): "
        'JSON {"tier": [requests per s, burst]}; a key of no or an unknown tier gets '
        "rate_limit_per_s / rate_limit_burst",
    )
    auth_failure_rate_per_s: float = Field(
        default=0.2, gt=0, le=1e6, description="failed authentications forgiven per s per address"
    )
    auth_failure_burst: int = Field(
        default=20, ge=1, description="failed authentications at once per address; then 429"
    )
    max_body_bytes: int = Field(default=1_048_576, description="largest API request body")
    api_key_cache_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="how long an API process trusts a verified key without asking the database "
        "(revocations announced on the bus end it at once)",
    )
    session_ttl_s: int = Field(
        default=8 * 3600,
        ge=60,
        le=30 * 86400,
        description="dashboard session lifetime, fixed by the server at sign-in",
    )
    llm_base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint")
    llm_api_key: str | None = Field(default=None, description="API key of the LLM endpoint")
    llm_model: str = Field(default="gpt-4o-mini", description="model asked at the LLM endpoint")
    llm_timeout_s: float = Field(default=10.0, description="timeout of one LLM call")
    secret_key: str | None = Field(
        default=None,
        description="signs dashboard sessions, derives the dev PII key; default: a random "
        "secret written once to <data_dir>/secret_key (0600); must be set in prod",
    )
    pii_key: str | None = Field(default=None, description="Fernet key for personal data at rest")
    mlflow_tracking_uri: str | None = Field(
        default=None,
        description=(
            "MLflow tracking and registry; default sqlite <data_dir>/mlflow.db. Several hosts:"
            " the shared PostgreSQL (postgresql+psycopg://...)"
        ),
    )
    mlflow_artifact_root: Path | None = Field(
        default=None,
        description=(
            "where model artifacts are stored; default <data_dir>/mlartifacts. Several hosts: a"
            " shared filesystem mounted at the same path on every host"
        ),
    )
    host: str = Field(default="127.0.0.1", description="interface the server binds")
    worker_metrics_port: int = Field(
        default=9464,
        ge=0,
        le=65535,
        description="port of a worker process's /metrics (ssmas worker); 0: none",
    )
    port: int = Field(default=8000, description="port the server binds")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_json: bool = Field(default=True, description="JSON log lines; false: human-readable")
    shared_data: Path | None = Field(
        default=None,
        description="folder of the public NLU corpora; default shared/data beside the repository",
    )
    model_cache: Path | None = Field(
        default=None,
        description="folder of model files built from shipped weights (the assistant's int8 "
        "MiniLM); default $XDG_CACHE_HOME/ssmas, else ~/.cache/ssmas",
    )
    whatsapp: WhatsAppSettings = Field(
        default_factory=WhatsAppSettings, description="The assistant's WhatsApp channel"
    )
    pricing: PricingSettings = Field(
        default_factory=PricingSettings,
        description="Pricing serving, monitoring, retention and retraining",
    )
    ops: OpsSettings = Field(
        default_factory=OpsSettings,
        description="Ops: the Prometheus and Alertmanager the platform reports to",
    )
    adops: AdopsSettings = Field(
        default_factory=AdopsSettings, description="AdOps event rules, targets and archive"
    )
    incidents: IncidentSettings = Field(
        default_factory=IncidentSettings,
        description="AdOps stream job and incident manager",
    )
    campaigns: CampaignsSettings = Field(
        default_factory=CampaignsSettings,
        description="Campaign sending: SMS provider, receipts, quiet hours, caps and rates",
    )

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        """Refuse a placeholder secret key anywhere, and in prod placeholder and weak secrets;
        the messages name, never show, them."""
        if self.secret_key is not None and not self.secret_key.strip():
            self.secret_key = None  # an empty variable reads as unset
        if self.secret_key is not None and self.secret_key.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError(
                "SSMAS_SECRET_KEY is a public placeholder: unset it (the data directory keeps a "
                "random one) or set a real secret"
            )
        if self.profile != "prod":
            return self
        if self.secret_key is None:
            raise ValueError(
                "SSMAS_SECRET_KEY must be set to a real secret when SSMAS_PROFILE=prod"
            )
        if not self.pii_key:
            raise ValueError("SSMAS_PII_KEY must be set when SSMAS_PROFILE=prod")
        placeholders = self.whatsapp.placeholder_secrets()
        if placeholders:
            raise ValueError(
                f"{', '.join(placeholders)} must be set to real secrets when SSMAS_PROFILE=prod"
            )
        if self.campaigns.placeholder_token_for_a_real_provider():
            raise ValueError(
                "SSMAS_CAMPAIGNS_AUTH_TOKEN must be set to the SMS provider's auth token when "
                "SSMAS_PROFILE=prod and SSMAS_CAMPAIGNS_PROVIDER_URL is not a local fake"
            )
        weak = ["SSMAS_SECRET_KEY"] if weak_secret(self.secret_key) else []
        weak += self.whatsapp.weak_secrets()
        if weak:
            raise ValueError(
                f"{', '.join(weak)} too weak for SSMAS_PROFILE=prod: use {WEAK_SECRET_HINT}"
            )
        if not is_fernet_key(self.pii_key):
            raise ValueError(
                "SSMAS_PII_KEY must be a Fernet key (32 url-safe base64 bytes) when "
                "SSMAS_PROFILE=prod, e.g. `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`"
            )
        return self

    @model_validator(mode="after")
    def _pace_sends_with_the_platform_limiter(self) -> Settings:
        """Unless set, WhatsApp send pacing uses the platform's rate-limit backend and Redis."""
        wa = self.whatsapp
        if wa.pacing_backend is None or wa.pacing_redis_url is None:
            self.whatsapp = wa.model_copy(
                update={
                    "pacing_backend": wa.pacing_backend or self.rate_limit_backend,
                    "pacing_redis_url": wa.pacing_redis_url or self.redis_url,
                }
            )
        return self

    @model_validator(mode="after")
    def _tiers_admit_requests(self) -> Settings:
        for tier, (rate, burst) in self.rate_limit_tiers.items():
            if not (0 < len(tier) <= 32 and rate > 0 and burst >= 1):
                raise ValueError(
                    f"rate_limit_tiers: tier {tier!r} needs a 1-32 character name, "
                    f"requests per s > 0 and burst >= 1 (got {rate}, {burst})"
                )
        return self

    def rate_limit_of(self, tier: str | None) -> tuple[float, int]:
        """The (requests per s, burst) of an API key of ``tier`` (the default without one)."""
        found = self.rate_limit_tiers.get(tier) if tier else None
        return found or (self.rate_limit_per_s, self.rate_limit_burst)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'ssmas.db'}"

    @property
    def resolved_bus_url(self) -> str:
        if self.bus_url:
            return self.bus_url
        if self.bus_backend == "redis":
            return self.redis_url or "redis://127.0.0.1:6379/0"
        return str(self.data_dir / "bus.db")

    @property
    def resolved_mlflow_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"

    @property
    def resolved_artifact_root(self) -> Path:
        return self.mlflow_artifact_root or self.data_dir / "mlartifacts"

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)


class SettingsError(ValueError):
    """Invalid settings, in one line naming the environment variable(s) at fault."""


def _env_name(loc: tuple[int | str, ...]) -> str:
    return "SSMAS_" + "_".join(str(part) for part in loc).upper()


def settings_error(exc: ValidationError) -> SettingsError:
    """``exc`` (from building :class:`Settings`) as one line naming each variable at fault."""
    problems = []
    for error in exc.errors():
        loc = error["loc"]
        message = error["msg"].removeprefix("Value error, ")
        if len(loc) < 2 and (not loc or loc[0] in SECTIONS):  # a check across fields
            problems.append(message)
            continue
        shown = "" if set(map(str, loc)) & SECRET_FIELDS else f" (got {error['input']!r})"
        problems.append(f"{_env_name(loc)}: {message}{shown}")
    return SettingsError("invalid settings: " + "; ".join(problems))


def load_settings(**values: Any) -> Settings:
    """:class:`Settings` from ``values``, the environment and ``.env``; invalid values raise
    :class:`SettingsError` (one line) instead of pydantic's multi-line report."""
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise settings_error(exc) from None


def user_cache_dir() -> Path:
    """The user's cache folder for the platform: ``$XDG_CACHE_HOME/ssmas``, else
    ``~/.cache/ssmas``, else (no home directory) the temporary directory's ``ssmas``."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no home directory (a bare service account)
            base = tempfile.gettempdir()
    return Path(base) / "ssmas"


_current: list[Settings] = []  # at most one: the process-wide settings once read
_current_lock = threading.Lock()


def get_settings() -> Settings:
    """The process-wide settings: read from the environment on first use (see
    :func:`load_settings`), or those installed with :func:`use_settings`."""
    with _current_lock:
        if not _current:
            _current.append(load_settings())
        return _current[0]


@contextmanager
def use_settings(settings: Settings | None) -> Iterator[Settings | None]:
    """Make ``settings`` the process-wide settings within the block (``None``: read the
    environment again on the next :func:`get_settings`); the previous ones come back after.

    Commands and entry points read :func:`get_settings`; tests drive them with a ``Settings``
    object this way instead of writing environment variables."""
    with _current_lock:
        previous = list(_current)
        _current[:] = [] if settings is None else [settings]
    try:
        yield settings
    finally:
        with _current_lock:
            _current[:] = previous


# -- the environment of other processes, and of the libraries that read their own ---------------

PROMETHEUS_MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def _env_value(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def settings_environment(settings: Settings) -> dict[str, str | None]:
    """The ``SSMAS_*`` variables that read back as ``settings`` (``None``: unset), sections
    flattened to ``SSMAS_<SECTION>_<FIELD>``."""
    env: dict[str, str | None] = {}
    for name, value in settings.model_dump(mode="json").items():
        if name in SECTIONS:
            for field, inner in value.items():
                env[_env_name((name, field))] = _env_value(inner)
        else:
            env[_env_name((name,))] = _env_value(value)
    return env


SUPERVISOR_PID_ENV = "SSMAS_SUPERVISOR_PID"
"""Set by ``ssmas up``'s supervisor (``ssmas.ops.healing``) in its workers' environment."""


def export_environment(
    settings: Settings,
    extra: Mapping[str, str] | None = None,
    *,
    environ: MutableMapping[str, str] | None = None,
) -> None:
    """Write ``settings`` (and ``extra`` variables) into the environment (``os.environ`` unless
    told), for processes started from this one: ``serve --workers N``'s uvicorn workers."""
    target = os.environ if environ is None else environ
    for key, value in {**settings_environment(settings), **(extra or {})}.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


def child_environment(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with ``settings`` (and ``extra``) written in: the environment
    of a process started from this one to run with the same settings (``ssmas up``'s workers)."""
    env = dict(os.environ)
    export_environment(settings, extra, environ=env)
    return env


def supervisor_pid() -> int | None:
    """The pid of the ``ssmas up`` supervisor that started this worker process
    (``SSMAS_SUPERVISOR_PID``), or None when no supervisor did."""
    text = os.environ.get(SUPERVISOR_PID_ENV, "")
    return int(text) if text.isdigit() else None


def prometheus_multiproc_dir() -> str | None:
    """The folder worker processes share Prometheus counters through (``serve --workers N``
    sets ``PROMETHEUS_MULTIPROC_DIR`` for its workers), or None in a single process."""
    return os.environ.get(PROMETHEUS_MULTIPROC_DIR) or None


def quiet_mlflow() -> None:
    """Call before importing MLflow: it phones home at import unless told not to. An explicit
    ``MLFLOW_DISABLE_TELEMETRY`` in the environment wins."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


# -- the reference page (docs/settings.md) ------------------------------------------------------

REFERENCE_COMMAND = "python -m ssmas.settings > docs/settings.md"
_SECTION_TITLES = {
    "whatsapp": "WhatsApp channel (`settings.whatsapp`, assistant)",
    "pricing": "Pricing (`settings.pricing`)",
    "adops": "AdOps (`settings.adops`)",
    "ops": "Ops (`settings.ops`)",
    "incidents": "AdOps stream and incidents (`settings.incidents`)",
    "campaigns": "Campaigns (`settings.campaigns`)",
}
_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


def _type_text(annotation: Any) -> str:
    args = get_args(annotation)
    if get_origin(annotation) is Literal:
        return " or ".join(f"`{arg}`" for arg in args)
    if args and type(None) in args:  # X | None
        inner = [arg for arg in args if arg is not type(None)]
        return " or ".join(_type_text(arg) for arg in inner) + ", optional"
    return str(getattr(annotation, "__name__", annotation))


def _bounds_text(field: FieldInfo) -> str:
    bounds = []
    for item in field.metadata:
        for attribute, sign in _BOUNDS:
            value = getattr(item, attribute, None)
            if value is not None:
                bounds.append(f"{sign} {value:g}")
    return f" ({', '.join(bounds)})" if bounds else ""


def _default_text(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`" if value != "" else "empty"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _prose(text: str) -> str:
    """A description as Markdown text: ``<data_dir>`` is not an HTML tag."""
    return _cell(text.replace("&", "&amp;").replace("<", "&lt;"))


def _table(fields: dict[str, FieldInfo], prefix: str) -> list[str]:
    lines = ["| Variable | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for name, field in fields.items():
        if name in SECTIONS:
            continue
        kind = _type_text(field.annotation) + _bounds_text(field)
        lines.append(
            f"| `{prefix}{name.upper()}` | {_cell(kind)} | {_cell(_default_text(field))} "
            f"| {_prose(field.description or '')} |"
        )
    return lines


def settings_reference() -> str:
    """``docs/settings.md``: every environment variable of :class:`Settings`, with its type,
    default and description, grouped by section (write it with ``python -m ssmas.settings``)."""
    lines = [
        "# Settings reference",
        "",
        f"<!-- Generated from src/ssmas/settings.py by `{REFERENCE_COMMAND}`; "
        "a test fails when this page is out of date. -->",
        "",
        "Every setting is read once per process from the environment (or a `.env` file in the "
        "working directory) into `ssmas.settings.Settings`; code reads `platform.settings`. "
        "Every default is the embedded one, so a laptop needs none of them. Sections are "
        "`SSMAS_<SECTION>_<FIELD>`: `SSMAS_PRICING_TIMEOUT_MS` is `settings.pricing.timeout_ms`. "
        "An invalid value stops the process with one line naming the variable.",
        "",
        "## Platform (`settings`)",
        "",
        *_table(Settings.model_fields, "SSMAS_"),
    ]
    for section in SECTIONS:
        field = Settings.model_fields[section]
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        lines += [
            "",
            f"## {_SECTION_TITLES.get(section, section)}",
            "",
            f"{field.description}.",
            "",
            *_table(model.model_fields, f"SSMAS_{section.upper()}_"),
        ]
    lines += [
        "",
        "## Read by libraries",
        "",
        "| Variable | Set by | Meaning |",
        "| --- | --- | --- |",
        f"| `{PROMETHEUS_MULTIPROC_DIR}` | `ssmas serve --workers N` "
        "(`<data_dir>/prometheus`) | worker processes share metrics through this folder |",
        "| `MLFLOW_DISABLE_TELEMETRY` | the platform (`true` unless set) | MLflow sends no "
        "usage data |",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m ssmas.settings > docs/settings.md
    sys.stdout.write(settings_reference())
