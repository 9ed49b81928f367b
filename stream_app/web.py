"""HTTP on Faust's web server: ``GET /recommendations/{user_id}`` (and a stats page).

Never 404: an unknown user gets the fallback (``"fallback": true``). A malformed user id is
a 400 with a JSON error; Redis unreachable or no fallback built yet is a 503.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust
from faust.web import Request, Response, View

from schemas.errors import InvalidEvent, ServiceError
from stream_app.serving import AsyncReader, parse_user_id

__all__ = ["register_views"]


def register_views(app: faust.App, reader: AsyncReader, name_of: Callable[[int], str]) -> None:
    """Add the recommendation endpoint to ``app``'s web server."""

    @app.page("/recommendations/{user_id}", name="recommendations")
    class Recommendations(View):
        """The user's current top-K (or the fallback), with names, reasons and age."""

        async def get(self, request: Request, user_id: str) -> Response:
            try:
                served = await reader.get(parse_user_id(user_id))
            except InvalidEvent as exc:
                return self.json({"error": exc.reason, "detail": exc.detail}, status=400)
            except ServiceError as exc:
                return self.json({"error": "unavailable", "detail": str(exc)}, status=503)
            return self.json(served.to_dict(names=name_of))

    @app.page("/pipeline/stats", name="pipeline-stats")
    class Stats(View):
        """Counters of this worker: events, dead letters, answers, batches, decay notes."""

        async def get(self, request: Request) -> Response:
            pipeline: Any = getattr(app, "pipeline", None)
            if pipeline is None:
                return self.json({})
            return self.json(
                {
                    **pipeline.stats,
                    "decay_notes": len(pipeline.notes),
                    "generation": app.consumer_generation_id,  # changes at every rebalance
                    "partitions": len(app.assignor.assigned_actives()),
                }
            )
