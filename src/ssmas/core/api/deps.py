"""Named dependency types for routers: the platform of the running app, and its pieces."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ssmas.core.platform import Platform
from ssmas.settings import Settings

__all__ = ["PlatformDep", "SettingsDep", "get_platform", "get_settings_of_app"]


def get_platform(request: Request) -> Platform:
    """The ``Platform`` the app was started with (set by the lifespan)."""
    platform: Platform = request.app.state.platform
    return platform


def get_settings_of_app(request: Request) -> Settings:
    """The settings of the running app (not the process-wide cached ones)."""
    return get_platform(request).settings


PlatformDep = Annotated[Platform, Depends(get_platform)]
SettingsDep = Annotated[Settings, Depends(get_settings_of_app)]
