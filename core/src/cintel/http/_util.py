"""Small helpers shared by the HTTP client: secret-free URLs and body excerpts."""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from cintel.logs import redact

__all__ = ["SECRET_PARAMS", "excerpt", "redact_url"]

#: Query parameters whose values are masked in errors and logs.
SECRET_PARAMS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "client_secret",
        "code",
        "hapikey",
        "key",
        "password",
        "refresh_token",
        "secret",
        "sig",
        "signature",
        "token",
        "token_auth",
    }
)
MASK = "***"


def redact_url(url: httpx.URL | str, extra_params: Iterable[str] = ()) -> str:
    """``url`` with user info, secret query parameters and known secrets masked."""
    u = httpx.URL(str(url))
    secret = SECRET_PARAMS | {p.lower() for p in extra_params}
    if u.userinfo:
        u = u.copy_with(username=MASK if u.username else None, password=None)
    if u.query:
        # values are compared decoded: a secret escaped in the URL (``+`` as ``%2B``) is found
        pairs = [(k, MASK if k.lower() in secret else redact(v)) for k, v in u.params.multi_items()]
        u = u.copy_with(params=pairs)
    return redact(str(u))


def excerpt(body: bytes | str, limit: int = 300) -> str:
    """The start of a response body on one line, secrets masked."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[:limit] + "…"
    return redact(text)
