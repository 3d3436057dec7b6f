"""What the platform page says about the running settings: every value safe to show, no secret.

Secrets (``secret_key``, ``pii_key``, ``llm_api_key``) are never read here; URLs lose any
password or query string, so a DSN with credentials shows as ``postgresql+psycopg://app:***@db/x``.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ssmas.settings import Settings


def redact_url(url: str | None) -> str:
    """``url`` with its password masked and its query dropped; ``—`` when unset."""
    if not url:
        return "—"
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "(unparseable URL)"


def settings_summary(settings: Settings) -> list[tuple[str, str]]:
    """Rows of (label, value) describing the deployment, in display order."""
    return [
        ("Profile", settings.profile),
        ("Data directory", str(settings.data_dir)),
        ("Database", redact_url(settings.resolved_database_url)),
        ("Bus", f"{settings.bus_backend} · {redact_url(settings.resolved_bus_url)}"),
        ("Cache", settings.cache_backend),
        ("Redis", redact_url(settings.redis_url)),
        (
            "Rate limit",
            f"{settings.rate_limit_backend} · {settings.rate_limit_per_s:g}/s "
            f"(burst {settings.rate_limit_burst})",
        ),
        ("Max body", f"{settings.max_body_bytes:,} bytes"),
        (
            "LLM",
            f"{settings.llm_model} at {redact_url(settings.llm_base_url)}"
            if settings.llm_base_url
            else "offline provider",
        ),
        ("MLflow", redact_url(settings.resolved_mlflow_uri)),
        ("PII encryption", "configured" if settings.pii_key else "not configured"),
        ("Log level", f"{settings.log_level} ({'JSON' if settings.log_json else 'console'})"),
    ]
