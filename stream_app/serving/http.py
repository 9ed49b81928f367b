"""HTTP reads: ``GET /recommendations/{user_id}`` on Faust's web server (with a stats page)
and in :func:`serving_app`, the same endpoint as a process of its own (``stream-app serve``),
whose latency does not depend on how busy a worker is.

``?surface=S`` reads surface ``S`` (``reco:{user_id}:S``; default: the ``default`` surface at
``reco:{user_id}``) with the same fallback. Never 404: an unknown user gets the fallback
(``"fallback": true``). A malformed user id, or a surface that is not declared (the body lists
the ``known`` ones), is a 400 with a JSON error; Redis unreachable or no fallback built yet is a
503. Every error of the server itself is JSON too (an aiohttp middleware): an unknown path is a 404
``{"error": "not_found", ...}``, a wrong method a 405 ``{"error": "method_not_allowed", ...}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust
import orjson
from aiohttp import web as aioweb
from faust.web import Request, Response, View
from prometheus_client import CollectorRegistry, generate_latest

from schemas.errors import InvalidEvent, ServiceError
from schemas.recommendation import DEFAULT_SURFACE
from stream_app.serving import AsyncReader, parse_user_id

__all__ = ["answer", "json_errors", "register_health", "register_views", "serving_app"]

_ERROR_NAMES = {404: "not_found", 405: "method_not_allowed"}
JSON = "application/json"


@aioweb.middleware
async def json_errors(request: aioweb.Request, handler: Callable) -> aioweb.StreamResponse:
    """aiohttp's own 404/405 (no such path, wrong method) as JSON, like the endpoint's errors."""
    try:
        return await handler(request)
    except aioweb.HTTPException as exc:
        name = _ERROR_NAMES.get(exc.status)
        if name is None:
            raise
        detail = f"{request.method} {request.path}: {exc.reason}"
        allow = exc.headers.get("Allow")  # a 405 names the methods that would work
        return aioweb.json_response(
            {"error": name, "detail": detail},
            status=exc.status,
            headers={"Allow": allow} if allow is not None else None,
        )


async def answer(
    reader: AsyncReader,
    name_of: Callable[[int], str],
    user_id: str,
    surface: str = DEFAULT_SURFACE,
) -> tuple[dict[str, Any], int]:
    """The JSON body and status of ``GET /recommendations/{user_id}?surface=S``."""
    try:
        served = await reader.get(parse_user_id(user_id), surface)
    except InvalidEvent as exc:
        body: dict[str, Any] = {"error": exc.reason, "detail": exc.detail}
        if exc.reason == "unknown_surface":
            body["known"] = sorted(reader.surfaces)
        return body, 400
    except ServiceError as exc:
        return {"error": "unavailable", "detail": str(exc)}, 503
    return served.to_dict(names=name_of), 200


def serving_app(reader: AsyncReader, name_of: Callable[[int], str]) -> aioweb.Application:
    """An aiohttp app serving ``GET /recommendations/{user_id}`` and ``GET /healthz``.

    Reads only Redis (one round trip per request), so it runs beside the workers, as many
    processes as the read load needs, and its latency does not wait on a worker's batches.
    """

    async def recommendations(request: aioweb.Request) -> aioweb.Response:
        body, status = await answer(
            reader,
            name_of,
            request.match_info["user_id"],
            request.query.get("surface", DEFAULT_SURFACE),
        )
        return aioweb.Response(body=orjson.dumps(body), status=status, content_type=JSON)

    async def healthz(request: aioweb.Request) -> aioweb.Response:
        return aioweb.Response(body=b'{"ok": true}', content_type=JSON)

    async def close_reader(app: aioweb.Application) -> None:
        await reader.close()

    web_app = aioweb.Application(middlewares=[json_errors])
    web_app.router.add_get("/recommendations/{user_id}", recommendations)
    web_app.router.add_get("/healthz", healthz)
    web_app.on_cleanup.append(close_reader)
    return web_app


def register_views(app: faust.App, reader: AsyncReader, name_of: Callable[[int], str]) -> None:
    """Add the recommendation endpoint (and JSON errors) to ``app``'s web server."""
    web_app = getattr(app.web, "web_app", None)  # the aiohttp Application of Faust's driver
    if isinstance(web_app, aioweb.Application) and json_errors not in web_app.middlewares:
        web_app.middlewares.append(json_errors)  # frozen when the server starts, not before

    @app.page("/recommendations/{user_id}", name="recommendations")
    class Recommendations(View):
        """The user's current top-K (or the fallback), with names, reasons and age."""

        async def get(self, request: Request, user_id: str) -> Response:
            surface = request.query.get("surface", DEFAULT_SURFACE)
            body, status = await answer(reader, name_of, user_id, surface)
            return self.json(body, status=status)

    @app.page("/pipeline/stats", name="pipeline-stats")
    class Stats(View):
        """Counters of this worker: events, dead letters, answers, batches, decay notes."""

        async def get(self, request: Request) -> Response:
            pipeline: Any = getattr(app, "pipeline", None)
            if pipeline is None:
                return self.json({})
            intake: Any = getattr(app, "intake", None)
            return self.json(
                {
                    **pipeline.stats,
                    **(intake.counters() if intake is not None else {}),
                    "decay_notes": len(pipeline.notes),
                    "generation": app.consumer_generation_id,  # changes at every rebalance
                    "partitions": len(app.assignor.assigned_actives()),
                }
            )


PROMETHEUS_TEXT = "text/plain; version=0.0.4"
"""The Prometheus text format (aiohttp sets the charset, utf-8, itself)."""


def register_health(
    app: faust.App, registry: CollectorRegistry, not_ready: Callable[[], str | None]
) -> None:
    """Add ``GET /metrics`` (``registry`` in the Prometheus text format), ``GET /healthz``
    (200 while the event loop answers) and ``GET /readyz`` (200 when ``not_ready()`` is None,
    else 503 with its reason) to ``app``'s web server."""

    @app.page("/metrics", name="metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(generate_latest(registry), content_type=PROMETHEUS_TEXT)

    @app.page("/healthz", name="healthz")
    class Healthz(View):
        async def get(self, request: Request) -> Response:
            return self.json({"ok": True})

    @app.page("/readyz", name="readyz")
    class Readyz(View):
        async def get(self, request: Request) -> Response:
            reason = not_ready()
            if reason is None:
                return self.json({"ready": True})
            return self.json({"ready": False, "reason": reason}, status=503)
