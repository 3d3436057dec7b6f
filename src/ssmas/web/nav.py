"""The dashboard's navigation: six page groups and the pages products register into them.

A product router calls :func:`register_page` when its module is imported (``register_page(
"pricing", "Floors", "/dashboard/pricing/floors")``); the sidebar and the group's landing page
then list it. A group with no registered page shows a "not deployed yet" state.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Group:
    """One sidebar entry: its slug (URL part), label and a one-line description."""

    slug: str
    label: str
    summary: str

    @property
    def path(self) -> str:
        return "/dashboard" if self.slug == "platform" else f"/dashboard/{self.slug}"


@dataclass(frozen=True)
class NavPage:
    """A page a product registered under a group."""

    group: str
    title: str
    path: str


GROUPS: tuple[Group, ...] = (
    Group("platform", "Platform", "Health of the database, bus and cache; traffic and settings."),
    Group("pricing", "Pricing", "Predictive floor prices: models, floors and drift."),
    Group("adops", "AdOps", "Anomaly detection, incidents and the agents that resolve them."),
    Group("assistant", "Assistant", "The WhatsApp assistant: conversations and escalations."),
    Group("campaigns", "Campaigns", "Leads, experiments, bandits and return on spend."),
    Group("ops", "Ops", "Self-healing, autoscaling advice and backup drills."),
)
_GROUPS_BY_SLUG = {g.slug: g for g in GROUPS}


class UnknownGroupError(ValueError):
    """Raised when a page names a group that is not one of :data:`GROUPS`."""


class NavRegistry:
    """Thread-safe list of registered pages; registering the same path twice updates its title."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: dict[str, NavPage] = {}

    def register(self, group: str, title: str, path: str) -> NavPage:
        if group not in _GROUPS_BY_SLUG:
            known = ", ".join(_GROUPS_BY_SLUG)
            raise UnknownGroupError(f"unknown page group {group!r}; expected one of: {known}")
        if not title.strip():
            raise ValueError("a page title must not be empty")
        if not path.startswith("/"):
            raise ValueError(f"a page path must start with '/': {path!r}")
        page = NavPage(group=group, title=title.strip(), path=path)
        with self._lock:
            self._pages[path] = page
        return page

    def unregister(self, path: str) -> None:
        with self._lock:
            self._pages.pop(path, None)

    def pages(self, group: str) -> list[NavPage]:
        """Pages of ``group`` in registration order."""
        with self._lock:
            return [p for p in self._pages.values() if p.group == group]


registry = NavRegistry()


def register_page(group: str, title: str, path: str) -> NavPage:
    """Add a product page to the sidebar under ``group`` (one of the slugs in :data:`GROUPS`)."""
    return registry.register(group, title, path)


def get_group(slug: str) -> Group | None:
    """The group called ``slug``, or None."""
    return _GROUPS_BY_SLUG.get(slug)
