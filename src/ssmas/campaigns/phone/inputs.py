"""The bulk validation request: numbers, each with optional platform-presence flags.

The flags (WhatsApp, Instagram, Facebook, Google, Apple) are what the caller knows about the
number's owner; the platform does not look them up, it passes them through to the answer (and
to lead scoring, which uses them as features). A number may be sent as a bare string.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

__all__ = ["MAX_BATCH", "MAX_PHONE_CHARS", "PLATFORMS", "BulkValidationRequest", "PhoneInput"]

MAX_BATCH = 10_000
# Longer fields are refused as a bad request; up to this, validation answers TOO_LONG.
MAX_PHONE_CHARS = 256
PLATFORMS = ("whatsapp", "instagram", "facebook", "google", "apple")


class PhoneInput(BaseModel):
    """One number and what is known of its owner's presence on each platform (None: unknown)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    phone: str = Field(max_length=MAX_PHONE_CHARS)
    whatsapp: StrictBool | None = None
    instagram: StrictBool | None = None
    facebook: StrictBool | None = None
    google: StrictBool | None = None
    apple: StrictBool | None = None

    def presence(self) -> dict[str, bool] | None:
        """The flags given, by platform; None when none was."""
        given = {name: flag for name in PLATFORMS if (flag := getattr(self, name)) is not None}
        return given or None


class BulkValidationRequest(BaseModel):
    """Up to :data:`MAX_BATCH` numbers; ``dedup`` reports each repeat of a number (same E.164)
    within the batch by the index of its first occurrence."""

    model_config = ConfigDict(extra="forbid")

    numbers: list[PhoneInput] = Field(min_length=1, max_length=MAX_BATCH)
    dedup: bool = False

    @field_validator("numbers", mode="before")
    @classmethod
    def _bare_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"phone": item} if isinstance(item, str) else item for item in value]
        return value
