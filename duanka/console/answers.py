"""How the console answers: every answer carries headers that let its pages load nothing
from elsewhere, be cached nowhere and framed by no other site."""

import base64
import hashlib
from typing import Any, Final

import orjson
from aiohttp import web

POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""The content security policy of every answer: duanka's own scripts and styles only."""


def inline_style_policy(page: str) -> str:
    """POLICY, allowing the one inline `<style>` of `page` by its hash."""
    style = page[page.index("<style>") + len("<style>") : page.index("</style>")]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    return POLICY.replace("style-src 'self'", f"style-src 'sha256-{digest}'")


def guard(response: web.StreamResponse, policy: str = POLICY) -> web.StreamResponse:
    """The headers every console answer carries."""
    response.headers["Content-Security-Policy"] = policy
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def respond(
    body: bytes,
    content_type: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    policy: str = POLICY,
) -> web.Response:
    """`body` as `content_type` (UTF-8 text)."""
    response = web.Response(body=body, status=status, headers=headers)
    response.content_type = content_type
    response.charset = "utf-8"
    guard(response, policy)
    return response


def see_other(location: str) -> web.Response:
    """Send the browser on to `location` (with GET)."""
    response = web.Response(status=303, headers={"Location": location})
    guard(response)
    return response


def as_json(value: Any, status: int = 200) -> web.Response:
    """`value` as JSON."""
    return respond(orjson.dumps(value), "application/json", status)


def error(status: int, message: str, reason: str | None = None) -> web.Response:
    """`{"error": message}`, and the dead-letter reason where the topic would give one."""
    body: dict[str, str] = {"error": message}
    if reason is not None:
        body["reason"] = reason
    return as_json(body, status)
