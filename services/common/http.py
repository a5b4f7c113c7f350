"""HTTP on faust's web server: /metrics, /healthz, /readyz, and RED metrics for every route."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common.errors import DATABASE_AWAY_MESSAGE, database_away
from services.common.logging import get_logger
from services.common.metrics import ServiceMetrics

log = get_logger(__name__)
# How soon a caller (Stripe, SendGrid, Twilio, a browser) is asked to come back.
RETRY_AFTER_S = 5

# aiohttp sets the charset itself and refuses one inside content_type.
METRICS_CONTENT_TYPE = "; ".join(
    part for part in CONTENT_TYPE_LATEST.split("; ") if not part.startswith("charset")
)

RouteHandler = Callable[[View, Request], Awaitable[Response]]


def measured(metrics: ServiceMetrics, route: str, handler: RouteHandler) -> RouteHandler:
    async def wrapped(view: View, request: Request) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(view, request)
            status = response.status
            return response
        except Exception as exc:
            if not database_away(exc):
                raise
            # A webhook's sender retries on a 503; nothing was acknowledged, so nothing is lost.
            status = 503
            log.warning("database_unavailable", route=route, error=type(exc).__name__)
            return view.json(
                {"error": DATABASE_AWAY_MESSAGE},
                status=status,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        finally:
            metrics.http_requests.labels(route, str(status)).inc()
            metrics.http_duration.labels(route).observe(time.perf_counter() - started)

    return wrapped


def add_operational_pages(
    app: faust.App, metrics: ServiceMetrics, is_ready: Callable[[], bool]
) -> None:
    async def metrics_page(view: View, request: Request) -> Response:
        return view.bytes(generate_latest(metrics.registry), content_type=METRICS_CONTENT_TYPE)

    async def healthz(view: View, request: Request) -> Response:
        return view.json({"status": "alive"})

    async def readyz(view: View, request: Request) -> Response:
        ready = is_ready()
        return view.json({"ready": ready}, status=200 if ready else 503)

    for path, handler in (("/metrics", metrics_page), ("/healthz", healthz), ("/readyz", readyz)):
        add_route(app, path, "get", measured(metrics, path, handler))


def add_route(app: faust.App, path: str, verb: str, handler: RouteHandler) -> None:
    view = type(f"View{path.replace('/', '_')}", (View,), {verb: handler})
    app.page(path)(view)


def add_page(
    app: faust.App, metrics: ServiceMetrics, route: str, get: RouteHandler, post: RouteHandler
) -> None:
    """A page answering GET and POST on one route, each measured: one view for both verbs
    (add_route makes one per verb). The route's parts arrive as keywords; handlers read them
    from `request.match_info`."""
    measured_get, measured_post = measured(metrics, route, get), measured(metrics, route, post)

    async def on_get(view: View, request: Request, **_: str) -> Response:
        return await measured_get(view, request)

    async def on_post(view: View, request: Request, **_: str) -> Response:
        return await measured_post(view, request)

    name = "Page" + "".join(c if c.isalnum() else "_" for c in route)
    app.page(route)(type(name, (View,), {"get": on_get, "post": on_post}))
