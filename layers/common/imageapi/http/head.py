"""HEAD wherever GET is served (RFC 9110, 9.3.2): the GET's status and headers, Content-Length
included, and no body. FastAPI routes a GET route's HEAD nowhere (405), and nothing between the
app and the client drops a body for it: not Mangum, not API Gateway's event. A route that
declares HEAD itself (the file's, which asks S3 only whether the object exists) keeps it."""

from __future__ import annotations

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadLikeGet:
    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        if not any(route.matches(scope)[0] is Match.FULL for route in self.routes):
            scope = {**scope, "method": "GET"}

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app(scope, receive, without_body)
