"""Compatibility name: the WhatsApp channel settings live in the platform ``Settings``.

Read them as ``settings.whatsapp`` (``ssmas.settings.WhatsAppSettings``, environment
``SSMAS_WHATSAPP_*``); this module re-exports the class for the modules that import it here.
"""

from __future__ import annotations

from ssmas.settings import DEV_APP_SECRET, WhatsAppSettings

__all__ = ["DEV_APP_SECRET", "WhatsAppSettings"]
