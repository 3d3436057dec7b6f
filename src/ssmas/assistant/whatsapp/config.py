"""WhatsApp channel configuration (environment prefix ``SSMAS_WHATSAPP_``).

Kept beside the channel until the platform ``Settings`` grows these fields; every default is the
local one (the Graph API fake, the sample app secret), so a laptop needs no Meta account.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_APP_SECRET = "test_app_secret_123"


class WhatsAppSettings(BaseSettings):
    """Webhook secrets, the Graph API endpoint and the sending limits of one business number."""

    model_config = SettingsConfigDict(env_prefix="SSMAS_WHATSAPP_", extra="ignore")

    verify_token: str = "my-verify-token"
    app_secret: str = DEV_APP_SECRET
    graph_url: str = Field(
        default="http://127.0.0.1:8765/v23.0", description="Graph API base URL with its version"
    )
    access_token: str = "dev-access-token"
    phone_number_id: str = "106540352242922"
    max_body_bytes: int = 256 * 1024
    send_rate_per_s: float = 80.0
    recipient_rate_per_s: float = 1.0
    recipient_burst: int = 20
    send_timeout_s: float = 10.0
    send_attempts: int = 4
    pair_limit_backoff_s: float = 2.0
    retry_backoff_s: float = 0.2
    reengagement_template: str = "reengagement"
    window_hours: float = 24.0
    context_turns: int = 10
    context_token_budget: int = 600
    context_ttl_s: float = 1800.0
    session_idle_s: float = 24 * 3600.0
    send_lease_s: float = 60.0
    brain: str = Field(
        default="",
        description="module:attribute of a callable(Settings) -> Brain; empty: the trained NLU",
    )

    @property
    def app_secret_bytes(self) -> bytes:
        return self.app_secret.encode("utf-8")
