"""The console's session: a signed cookie, and the token that guards its changes.

An analyst logs in with the API token once; the browser then holds a session cookie that
says until when it is good, signed with a key derived from the token. Every worker has the
token, so every worker checks a session without asking another, and a request the worker
forwards to the one holding a key carries its cookie along. The token itself never leaves
the login form's body: not in a URL, a cookie or a log. Changing the token ends every
session.

State-changing requests also carry a second value derived from the session (`csrf`), which
the console's own pages hold and another site cannot read: with the cookie's
`SameSite=Strict`, a request another site makes the browser send is refused twice over.
"""

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Final

COOKIE: Final = "duanka_session"
CSRF_HEADER: Final = "X-Duanka-CSRF"
CSRF_FIELD: Final = "csrf"
"""The form field carrying the same value where a form, not a script, makes the change."""


class Sessions:
    """Issues and checks sessions under one API token."""

    def __init__(self, token: str, lifetime: timedelta) -> None:
        self._key = hashlib.sha256(b"duanka console session\x00" + token.encode()).digest()
        self._token = token.encode()
        self.lifetime = lifetime

    def token_matches(self, given: str) -> bool:
        """Whether a login gave the API token (compared in constant time)."""
        return hmac.compare_digest(given.encode(), self._token)

    def issue(self, now: datetime) -> str:
        """A new session's cookie value: `<expires, epoch s>.<nonce>.<signature>`."""
        expires = int((now + self.lifetime).timestamp())
        body = f"{expires}.{secrets.token_hex(8)}"
        return f"{body}.{self._sign('session', body)}"

    def valid(self, cookie: str | None, now: datetime) -> bool:
        """Whether a cookie value is a session this token issued that has not expired."""
        if not cookie or cookie.count(".") != 2:
            return False
        body, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign("session", body)):
            return False
        expires = body.partition(".")[0]
        return expires.isdigit() and now.timestamp() < int(expires)

    def csrf(self, cookie: str) -> str:
        """The value that must accompany a change made in the session `cookie`."""
        return self._sign("csrf", cookie)

    def csrf_matches(self, cookie: str, given: str | None) -> bool:
        """Whether a change carries its session's value."""
        return given is not None and hmac.compare_digest(given, self.csrf(cookie))

    def _sign(self, purpose: str, body: str) -> str:
        return hmac.new(self._key, f"{purpose}\x00{body}".encode(), hashlib.sha256).hexdigest()
