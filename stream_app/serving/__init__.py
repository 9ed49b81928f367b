"""The read side: answers from Redis, never computed here.

:mod:`~stream_app.serving.reader` reads a shopper's answer or the fallback in one round trip
(a blocking and an asyncio reader); :mod:`~stream_app.serving.http` serves it as
``GET /recommendations/{user_id}``, on a worker's web server or as ``stream-app serve``.
"""

from stream_app.serving.reader import AsyncReader, Reader, Served, choose, parse_user_id

__all__ = ["AsyncReader", "Reader", "Served", "choose", "parse_user_id"]
