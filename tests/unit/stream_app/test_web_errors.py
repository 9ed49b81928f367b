"""Both HTTP servers (the worker's and `stream-app serve`'s) answer the same way, every error
in JSON, unknown paths included.

The worker's views are registered on a real (not started) Faust app; its aiohttp application,
and the standalone :func:`serving_app`, are served by aiohttp's test server on a free port: no
worker, Kafka or Redis.
"""

from __future__ import annotations

from pathlib import Path

import faust
import pytest
from aiohttp.test_utils import TestClient, TestServer

from schemas.errors import ServiceError
from schemas.recommendation import Recommendation
from stream_app.serving import Served
from stream_app.serving.http import register_views, serving_app
from stream_app.serving.reader import read_keys


class FakeReader:
    """Stands in for AsyncReader: user 7 has an answer, user 8 makes Redis 'fail'."""

    surfaces = frozenset({"default", "basket"})

    async def get(self, user_id: int, surface: str = "default") -> Served:
        read_keys(user_id, "reco", surface, self.surfaces)  # refuses an unknown surface
        if user_id == 8:
            raise ServiceError("Redis does not answer")
        reco = Recommendation.from_bytes(
            b'{"user_id": 7, "items": [[196, 4.5, "bought 7 times"]], "model": "m",'
            b' "source": "stream", "updated_at": 1000, "event_ts": 900}'
        )
        return Served(reco, 5, False, user_id, surface)

    async def close(self) -> None:
        pass


@pytest.fixture(params=["worker", "serve"])
async def client(request: pytest.FixtureRequest, tmp_path: Path):
    names = lambda pid: f"name {pid}"  # noqa: E731
    if request.param == "serve":
        server = serving_app(FakeReader(), names)  # type: ignore[arg-type]
        async with TestClient(TestServer(server, host="127.0.0.1", port=0)) as c:
            yield c
        return
    app = faust.App(
        "web-errors-test",
        broker="kafka://localhost:1",
        autodiscover=False,
        datadir=str(tmp_path / "data"),
    )
    register_views(app, FakeReader(), names)  # type: ignore[arg-type]
    assert app.web.cors is not None  # set up as Faust's Web.on_start does before serving
    async with TestClient(TestServer(app.web.web_app, host="127.0.0.1", port=0)) as c:
        yield c


async def test_unknown_path_is_a_json_404(client: TestClient) -> None:
    resp = await client.get("/no/such/path")

    assert resp.status == 404
    assert resp.content_type == "application/json"
    assert await resp.json() == {"error": "not_found", "detail": "GET /no/such/path: Not Found"}


async def test_wrong_method_is_a_json_405_that_names_the_allowed_ones(client: TestClient) -> None:
    resp = await client.post("/recommendations/7")

    assert resp.status == 405
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["error"] == "method_not_allowed"
    assert "GET" in resp.headers["Allow"]


async def test_the_endpoint_still_answers_and_keeps_its_own_errors(client: TestClient) -> None:
    ok = await client.get("/recommendations/7")
    assert ok.status == 200
    body = await ok.json()
    assert body["user_id"] == 7
    assert body["items"] == [
        {"product_id": 196, "score": 4.5, "reason": "bought 7 times", "name": "name 196"}
    ]

    bad = await client.get("/recommendations/abc")
    assert bad.status == 400
    assert (await bad.json())["error"] == "bad_user_id"

    down = await client.get("/recommendations/8")
    assert down.status == 503
    assert await down.json() == {"error": "unavailable", "detail": "Redis does not answer"}


async def test_a_surface_is_read_with_surface_and_an_unknown_one_is_a_400_listing_the_known(
    client: TestClient,
) -> None:
    ok = await client.get("/recommendations/7?surface=basket")
    assert ok.status == 200
    assert (await ok.json())["surface"] == "basket"
    assert (await (await client.get("/recommendations/7")).json())["surface"] == "default"

    bad = await client.get("/recommendations/7?surface=nope")
    assert bad.status == 400
    assert await bad.json() == {
        "error": "unknown_surface",
        "detail": "unknown surface 'nope'; known: basket, default",
        "known": ["basket", "default"],
    }
