"""The FastAPI app factory: platform endpoints, product routers, auth, limits, errors, metrics.

``create_app(platform)`` serves an existing ``Platform`` (the caller closes it);
``create_app(settings=...)`` builds one when the app starts and closes it when the app stops.
The products to mount are passed in (``products=``, :class:`ssmas.core.product.Product`): core
knows no product; the composition root (``ssmas.bootstrap.create_app``) passes the platform's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware

from ssmas import __version__
from ssmas.core.api import system
from ssmas.core.api.auth import FailedAuthGuard, KeyVerifier
from ssmas.core.api.errors import install_error_handlers
from ssmas.core.api.lean import LeanDispatchMiddleware, collect_lean_routes
from ssmas.core.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from ssmas.core.api.openapi import install_docs, install_openapi
from ssmas.core.api.shed import LoadShed, LoadShedMiddleware
from ssmas.core.platform import Platform, build_platform
from ssmas.core.product import Product, ProductError, resolve
from ssmas.core.ratelimit import open_rate_limiter, rate_limiter_from_settings
from ssmas.core.security.revocation import RevocationListener
from ssmas.core.tuning import tune_server_process
from ssmas.settings import Settings, get_settings

__all__ = ["create_app", "load_product_routers"]

StartHook = Callable[[Platform], Callable[[], object] | None]


def load_product_routers(
    products: Sequence[Product],
) -> tuple[list[APIRouter], list[tuple[str, StartHook]]]:
    """Import every product's routers and pages, and its start hook; a name that is not an
    ``APIRouter`` (or a start hook that is not callable) is a :class:`ProductError`."""
    routers: list[APIRouter] = []
    hooks: list[tuple[str, StartHook]] = []
    for product in products:
        for spec in (*product.routers, *product.pages):
            router = resolve(spec)
            if not isinstance(router, APIRouter):
                raise ProductError(f"{product.name}: {spec} is not a FastAPI APIRouter")
            routers.append(router)
        if product.start is not None:
            hook = resolve(product.start)
            if not callable(hook):
                raise ProductError(f"{product.name}: {product.start} is not callable")
            hooks.append((product.name, hook))
    return routers, hooks


def create_app(
    platform: Platform | None = None,
    *,
    settings: Settings | None = None,
    products: Sequence[Product] = (),
    routers: Sequence[APIRouter] = (),
    lean: bool = True,
    tune_process: bool = False,
) -> FastAPI:
    """Build the API app; nothing is opened until the app's lifespan starts.

    ``products``: mounted with their routers and pages, started (``Product.start``) when the
    app starts and torn down when it stops. ``routers``: extra routers (tests).
    ``lean=False`` serves lean routes (``ssmas.core.api.lean``) through FastAPI's own routing.
    ``tune_process=True`` (server entry points, not tests) applies
    :func:`ssmas.core.tuning.tune_server_process` once start-up is done, and undoes it when the
    app stops.
    """
    if platform is not None and settings is not None and settings is not platform.settings:
        raise ValueError("pass either a platform or settings, not both")
    app_settings = platform.settings if platform is not None else settings or get_settings()
    product_routers, hooks = load_product_routers(products)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            running = platform
            if running is None:
                running = await run_in_threadpool(build_platform, app_settings)
                stack.callback(running.close)
            limiter = rate_limiter_from_settings(app_settings)
            stack.push_async_callback(limiter.close)
            failures = FailedAuthGuard(
                open_rate_limiter(
                    app_settings.rate_limit_backend,
                    rate=app_settings.auth_failure_rate_per_s,
                    burst=app_settings.auth_failure_burst,
                    redis_url=app_settings.redis_url,
                    prefix="ssmas:authfail:",
                    local_fallback=True,
                )
            )
            stack.push_async_callback(failures.close)
            app.state.platform = running
            app.state.rate_limiter = limiter
            app.state.rate_limit_tiers = dict(app_settings.rate_limit_tiers)
            app.state.auth_failures = failures
            verifier = KeyVerifier(running.session_factory, ttl_s=app_settings.api_key_cache_s)
            app.state.key_verifier = verifier
            # Keys revoked by any process leave this one's cache at once (closed before the bus).
            revocations = RevocationListener(running.bus, verifier.forget_prefix).start()
            stack.callback(revocations.close)
            for _name, hook in hooks:
                teardown = await run_in_threadpool(hook, running)
                if callable(teardown):
                    stack.callback(teardown)
            if tune_process:
                stack.callback(tune_server_process())
            yield

    app = FastAPI(
        title="SSMAS AI platform",
        version=__version__,
        description="The SSMAS AI platform's products on one operational core.",
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
    for router in (*product_routers, *routers):
        app.include_router(router)
    # A supervisor (ssmas up) may shed one product's writes while its workers catch up.
    app.state.load_shed = shed = LoadShed()
    shed_routes = {
        p.name: [route for spec in p.routers for route in resolve(spec).routes] for p in products
    }
    app.user_middleware.append(Middleware(LoadShedMiddleware, shed=shed, routes=shed_routes))
    if lean:
        # Appended, so innermost: the request-context and body-limit middleware still wrap it.
        table = collect_lean_routes(app.routes)
        app.user_middleware.append(Middleware(LeanDispatchMiddleware, table=table))
    return app
