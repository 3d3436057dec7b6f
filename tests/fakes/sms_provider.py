"""The fake SMS provider the tests use: :mod:`ssmas.campaigns.sending.fake_provider` (in the
package so ``ssmas demo`` can serve it too), re-exported under its test name."""

from __future__ import annotations

from ssmas.campaigns.sending.fake_provider import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeMessage,
    FakeSmsProvider,
)

__all__ = ["ACCOUNT_SID", "AUTH_TOKEN", "FakeMessage", "FakeSmsProvider"]
