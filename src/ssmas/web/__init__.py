"""The web dashboard: Jinja2 pages, HTMX refreshes and a vendored chart library, no build step.

Products add pages with :func:`register_page` and render them with :func:`render_page`, guarding
them with ``WebUserDep`` / :func:`login_redirect`. The router lives in ``ssmas.web.routes``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ssmas.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ssmas.web.access import WebUser, WebUserDep, current_user, login_redirect
    from ssmas.web.nav import GROUPS, NavPage, UnknownGroupError, register_page
    from ssmas.web.rendering import render_page

__all__ = [
    "GROUPS",
    "NavPage",
    "UnknownGroupError",
    "WebUser",
    "WebUserDep",
    "current_user",
    "login_redirect",
    "register_page",
    "render_page",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(
            ("WebUser", "WebUserDep", "current_user", "login_redirect"), "ssmas.web.access"
        ),
        **dict.fromkeys(
            ("GROUPS", "NavPage", "UnknownGroupError", "register_page"), "ssmas.web.nav"
        ),
        "render_page": "ssmas.web.rendering",
    },
)
