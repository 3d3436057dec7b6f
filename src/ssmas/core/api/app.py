"""The FastAPI app factory: platform endpoints, product routers, auth, limits, errors, metrics.

``create_app(platform)`` serves an existing ``Platform`` (the caller closes it);
``create_app(settings=...)`` builds one when the app starts and closes it when the app stops.
Product routers come from ``ssmas.bootstrap.ROUTER_MODULES`` plus any passed in ``routers``.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from types import ModuleType

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware

from ssmas import __version__, bootstrap
from ssmas.bootstrap import Platform, build_platform
from ssmas.core.api import system
from ssmas.core.api.auth import KeyVerifier
from ssmas.core.api.errors import install_error_handlers
from ssmas.core.api.lean import LeanDispatchMiddleware, collect_lean_routes
from ssmas.core.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from ssmas.core.api.openapi import install_docs, install_openapi
from ssmas.core.ratelimit import rate_limiter_from_settings
from ssmas.settings import Settings, get_settings

__all__ = ["create_app", "load_router_modules"]

SERVER_SWITCH_INTERVAL_S = 0.001
SetupHook = Callable[[Platform], Callable[[], object] | None]


def load_router_modules(
    specs: Sequence[tuple[str, str]],
) -> list[tuple[APIRouter, SetupHook | None]]:
    """Import each ``(module, attribute)`` and return its router and optional ``setup`` hook."""
    loaded: list[tuple[APIRouter, SetupHook | None]] = []
    for module_name, attribute in specs:
        module: ModuleType = importlib.import_module(module_name)
        router = getattr(module, attribute)
        if not isinstance(router, APIRouter):
            raise TypeError(f"{module_name}.{attribute} is not a FastAPI APIRouter")
        hook = getattr(module, "setup", None)
        loaded.append((router, hook if callable(hook) else None))
    return loaded


def create_app(
    platform: Platform | None = None,
    *,
    settings: Settings | None = None,
    routers: Sequence[APIRouter] = (),
    lean: bool = True,
    freeze_gc: bool = False,
) -> FastAPI:
    """Build the API app; nothing is opened until the app's lifespan starts.

    ``lean=False`` serves lean routes (``ssmas.core.api.lean``) through FastAPI's own routing.
    ``freeze_gc=True`` (servers, not tests) moves everything alive once start-up is done into
    the collector's permanent generation (``gc.freeze``): the hundreds of thousands of objects
    the imports and models leave are then never walked again, which takes the multi-millisecond
    full collections out of request latency; it also shortens the interpreter's thread switch
    interval to 1 ms, so a busy background thread delays a request by 1 ms at most, not 5.
    """
    if platform is not None and settings is not None and settings is not platform.settings:
        raise ValueError("pass either a platform or settings, not both")
    app_settings = platform.settings if platform is not None else settings or get_settings()
    products = load_router_modules(bootstrap.ROUTER_MODULES)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            running = platform
            if running is None:
                running = await run_in_threadpool(build_platform, app_settings)
                stack.callback(running.close)
            limiter = rate_limiter_from_settings(app_settings)
            stack.push_async_callback(limiter.close)
            app.state.platform = running
            app.state.rate_limiter = limiter
            app.state.key_verifier = KeyVerifier(running.session_factory)
            for _router, hook in products:
                if hook is not None:
                    teardown = await run_in_threadpool(hook, running)
                    if callable(teardown):
                        stack.callback(teardown)
            if freeze_gc:
                gc.collect()
                gc.freeze()
                # A background thread (model reloads, capture flushes) holding the GIL would
                # keep the event loop waiting up to the default 5 ms switch interval.
                sys.setswitchinterval(SERVER_SWITCH_INTERVAL_S)
            yield

    app = FastAPI(
        title="SSMAS AI platform",
        version=__version__,
        description=(
            "Pricing and the WhatsApp assistant on one operational core "
            "(AdOps and campaigns are planned, not built yet)."
        ),
        lifespan=lifespan,
        docs_url=None,  # install_docs serves /docs from the package, FastAPI's uses a CDN
        redoc_url=None,
        # Our metrics are Prometheus (ssmas.core.metrics); FastAPI's OpenTelemetry bridge would
        # otherwise look up the global providers (and the environment) on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        middleware=[
            Middleware(RequestContextMiddleware),
            Middleware(BodyLimitMiddleware, max_bytes=app_settings.max_body_bytes),
        ],
    )

    install_error_handlers(app)
    install_openapi(app)
    install_docs(app)
    app.include_router(system.router)
    for router, _hook in products:
        app.include_router(router)
    for router in routers:
        app.include_router(router)
    if lean:
        # Appended, so innermost: the request-context and body-limit middleware still wrap it.
        table = collect_lean_routes(app.routes)
        app.user_middleware.append(Middleware(LeanDispatchMiddleware, table=table))
    return app
