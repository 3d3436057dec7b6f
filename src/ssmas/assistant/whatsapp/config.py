"""Compatibility shim: the WhatsApp channel settings live in the platform ``Settings``.

Read them as ``settings.whatsapp`` (``ssmas.settings.WhatsAppSettings``, environment
``SSMAS_WHATSAPP_*``). This name stays for the modules that still import it:
``WhatsAppSettings()`` with no arguments is the ``whatsapp`` section of ``Settings()`` read from
the environment (placeholder secrets refused in prod), with arguments a section built from them.
"""

from __future__ import annotations

from typing import Any

from ssmas.settings import DEV_APP_SECRET, Settings
from ssmas.settings import WhatsAppSettings as PlatformWhatsAppSettings

__all__ = ["DEV_APP_SECRET", "WhatsAppSettings"]


class WhatsAppSettings(PlatformWhatsAppSettings):
    """``ssmas.settings.WhatsAppSettings``; without arguments, read from the environment."""

    def __init__(self, **values: Any) -> None:
        if not values:
            values = Settings().whatsapp.model_dump()
        super().__init__(**values)
