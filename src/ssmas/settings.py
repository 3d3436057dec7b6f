"""One settings object for the whole platform (environment prefix ``SSMAS_``).

Every default is the embedded one: SQLite under the data directory, an in-process cache and the
SQLite bus, so the platform runs on a laptop with no server. Point ``SSMAS_DATABASE_URL`` at
PostgreSQL and ``SSMAS_REDIS_URL`` at Redis to scale out.

Product sections are nested models read from ``SSMAS_<SECTION>_<FIELD>``: ``settings.whatsapp``
from ``SSMAS_WHATSAPP_*`` (e.g. ``SSMAS_WHATSAPP_SEND_RATE_PER_S``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "dev-secret", "placeholder"}
)
DEV_SECRET = "dev-secret"
# The WhatsApp channel's local defaults: the sample payloads' app secret and the fake's tokens.
DEV_APP_SECRET = "test_app_secret_123"
DEV_VERIFY_TOKEN = "my-verify-token"
DEV_ACCESS_TOKEN = "dev-access-token"
WHATSAPP_PLACEHOLDERS = PLACEHOLDER_SECRETS | {DEV_APP_SECRET, DEV_VERIFY_TOKEN, DEV_ACCESS_TOKEN}


def is_placeholder(secret: str) -> bool:
    return secret.strip().lower() in WHATSAPP_PLACEHOLDERS


class WhatsAppSettings(BaseModel):
    """The WhatsApp channel (``SSMAS_WHATSAPP_*``): webhook secrets, the Graph API endpoint, the
    sending limits of one business number, and the assistant's context and session limits.

    Every default is the local one (the Graph API fake, the sample app secret), so a laptop
    needs no Meta account; ``SSMAS_PROFILE=prod`` refuses those placeholder secrets.
    """

    model_config = ConfigDict(extra="ignore")

    verify_token: str = DEV_VERIFY_TOKEN
    app_secret: str = DEV_APP_SECRET
    graph_url: str = Field(
        default="http://127.0.0.1:8765/v23.0", description="Graph API base URL with its version"
    )
    access_token: str = DEV_ACCESS_TOKEN
    phone_number_id: str = "106540352242922"
    max_body_bytes: int = 256 * 1024
    send_rate_per_s: float = Field(default=80.0, gt=0, description="per business number")
    send_burst: int | None = Field(
        default=None, ge=1, description="sends at once per number; default: one second's worth"
    )
    recipient_rate_per_s: float = Field(default=1.0, gt=0)
    recipient_burst: int = Field(default=20, ge=1)
    pacing_backend: Literal["memory", "redis"] | None = Field(
        default=None,
        description="where the send buckets live; default: SSMAS_RATE_LIMIT_BACKEND",
    )
    pacing_redis_url: str | None = Field(
        default=None, description="Redis for shared send buckets; default: SSMAS_REDIS_URL"
    )
    send_timeout_s: float = 10.0
    send_attempts: int = Field(default=4, ge=1, description="tries per request, the first included")
    pair_limit_backoff_s: float = 2.0
    retry_backoff_s: float = 0.2
    retry_cap_s: float = 30.0
    retry_max_elapsed_s: float = Field(
        default=120.0, description="no new try of a request starts later than this after the first"
    )
    reengagement_template: str = "reengagement"
    window_hours: float = 24.0
    context_turns: int = 10
    context_token_budget: int = 600
    context_ttl_s: float = 1800.0
    session_idle_s: float = 24 * 3600.0
    send_lease_s: float = 60.0
    visibility_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="redelivery timeout of the assistant's queues; default: each queue's own",
    )
    brain: str = Field(
        default="",
        description="module:attribute of a callable(Settings) -> Brain; empty: the trained NLU",
    )

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


class Settings(BaseSettings):
    """Platform configuration; read from the environment (``SSMAS_*``) and an optional ``.env``."""

    # "_" with one split: SSMAS_WHATSAPP_SEND_RATE_PER_S -> whatsapp.send_rate_per_s
    model_config = SettingsConfigDict(
        env_prefix="SSMAS_",
        env_file=".env",
        extra="ignore",
        env_nested_delimiter="_",
        env_nested_max_split=1,
    )

    profile: Literal["dev", "test", "prod"] = "dev"
    data_dir: Path = Path(".ssmas")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/ssmas.db"
    )
    redis_url: str | None = Field(default=None, description="redis://host:port/db, optional")
    bus_backend: Literal["sqlite", "redis"] = "sqlite"
    bus_url: str | None = Field(default=None, description="default: <data_dir>/bus.db or redis_url")
    cache_backend: Literal["memory", "redis"] = "memory"
    rate_limit_backend: Literal["memory", "redis"] = "memory"
    rate_limit_per_s: float = 200.0
    rate_limit_burst: int = 400
    max_body_bytes: int = 1_048_576
    llm_base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint")
    llm_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = 10.0
    secret_key: str = DEV_SECRET
    pii_key: str | None = Field(default=None, description="Fernet key for personal data at rest")
    mlflow_tracking_uri: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    whatsapp: WhatsAppSettings = Field(default_factory=WhatsAppSettings)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.profile == "prod" and self.secret_key.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError(
                "SSMAS_SECRET_KEY must be set to a real secret when SSMAS_PROFILE=prod"
            )
        if self.profile == "prod" and not self.pii_key:
            raise ValueError("SSMAS_PII_KEY must be set when SSMAS_PROFILE=prod")
        placeholders = self.whatsapp.placeholder_secrets()
        if self.profile == "prod" and placeholders:
            raise ValueError(
                f"{', '.join(placeholders)} must be set to real secrets when SSMAS_PROFILE=prod"
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

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached); tests build their own ``Settings``."""
    return Settings()
