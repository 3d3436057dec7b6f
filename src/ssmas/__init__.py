"""SSMAS AI platform: pricing, adops, assistant and campaigns on one operational core."""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"
