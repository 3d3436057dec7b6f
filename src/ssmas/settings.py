"""One settings object for the whole platform (environment prefix ``SSMAS_``).

Every default is the embedded one: SQLite under the data directory, an in-process cache and the
SQLite bus, so the platform runs on a laptop with no server. Point ``SSMAS_DATABASE_URL`` at
PostgreSQL and ``SSMAS_REDIS_URL`` at Redis to scale out.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "dev-secret", "placeholder"}
)
DEV_SECRET = "dev-secret"


class Settings(BaseSettings):
    """Platform configuration; read from the environment (``SSMAS_*``) and an optional ``.env``."""

    model_config = SettingsConfigDict(env_prefix="SSMAS_", env_file=".env", extra="ignore")

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

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.profile == "prod" and self.secret_key.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError(
                "SSMAS_SECRET_KEY must be set to a real secret when SSMAS_PROFILE=prod"
            )
        if self.profile == "prod" and not self.pii_key:
            raise ValueError("SSMAS_PII_KEY must be set when SSMAS_PROFILE=prod")
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
