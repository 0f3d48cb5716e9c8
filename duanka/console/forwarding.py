"""Any worker answers any console route: what the case linker or a subject's worker holds
is asked of that worker, the way Faust's `table_route` does for the query API, but with the
request whole (its body and cookie) and the answer's headers that matter (a download's
name, a redirect): Faust's own forwarding drops both."""

from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web
from yarl import URL

from duanka.console.answers import error, guard

Handler = Callable[..., Awaitable[web.StreamResponse]]
ROUTED_HEADER: Final = "X-Duanka-Routed"
"""On a request one worker forwarded to another: answer it there, forward it no further
(the two may briefly disagree about who holds a key during a rebalance)."""
KEPT_HEADERS: Final = ("content-type", "content-disposition", "location")


async def at_owner(
    app: Any, request: web.Request, table: Any, key: str, answer: Handler, **kwargs: str
) -> web.StreamResponse:
    """`answer(request, **kwargs)` if this worker holds `key` of `table`, else the answer
    of the worker that does. 503 while no worker holds it (a rebalance)."""
    if request.headers.get(ROUTED_HEADER) is None:
        try:
            owner = app.router.key_store(table.name, key)
        except KeyError:
            return error(503, "no worker holds this yet; try again shortly")
        if _ident(owner) != _ident(URL(str(app.conf.canonical_url))):
            return await _forward(app, owner, request)
    return await answer(request, **kwargs)


async def _forward(app: Any, owner: URL, request: web.Request) -> web.StreamResponse:
    """The owner's answer to the request. The browser's `Host` goes along, so that the
    owner sees the origin the browser saw."""
    url = request.url.with_host(owner.host or "").with_port(owner.port)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    headers[ROUTED_HEADER] = "1"
    async with app.http_client.request(
        method=request.method, url=url, headers=headers, data=await request.read()
    ) as answer:
        body = await answer.read()
        kept = {k: v for k, v in answer.headers.items() if k.lower() in KEPT_HEADERS}
        return guard(web.Response(body=body, status=answer.status, headers=kept))


def _ident(url: URL) -> tuple[str, int]:
    return (url.host or "", int(url.port or 80))
