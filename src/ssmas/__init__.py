"""SSMAS AI platform: pricing and assistant on one operational core (adops, campaigns planned)."""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"
