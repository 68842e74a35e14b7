"""Record real HTTP exchanges to a YAML cassette once, then replay them offline, secrets scrubbed.

A :class:`Cassette` gives httpx transports. With ``mode="record"`` they send requests over the
network and keep each request and response. ``mode="replay"`` never touches the network and
answers from the cassette file. A connector author records once against the real API, commits
the cassette, and CI replays it::

    import httpx, os
    from cintel.testing.cassette import Cassette

    TOKEN = os.environ.get("ACME_TOKEN", "ci-dummy-token")  # the real token only when recording
    MODE = "record" if os.environ.get("ACME_RECORD") else "replay"

    def test_contacts() -> None:
        cassette = Cassette("tests/cassettes/acme_contacts.yaml", mode=MODE, secrets=[TOKEN])
        auth = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(transport=cassette.transport(), headers=auth) as client:
            assert len(fetch_all_contacts(client)) == 120  # the connector's own paging code
        cassette.assert_all_played()

Run ``ACME_RECORD=1 ACME_TOKEN=... uv run pytest tests/test_acme.py`` once, then commit
``tests/cassettes/acme_contacts.yaml``.

The file is only written on ``save()``, which runs when the transport is closed (closing the
client closes it) or when a ``with Cassette(...)`` block exits. Before the file is written, every
secret is replaced with ``<REDACTED>``. That covers the values of ``scrub_headers``
(``Bearer <REDACTED>``, each cookie value), the values of ``scrub_params`` in URLs (including URLs
in ``Link``/``Location`` headers and in JSON string values), form fields, and the values of
``scrub_json_keys`` in JSON bodies (so an OAuth token response is stored as
``"access_token": "<REDACTED>"``). Headers whose names look secret (containing ``token``,
``secret``, ``password``, ``api-key``, ``apikey``, ``credential`` or ``session``) are redacted
too. The literal ``secrets``, and every value of 8 or more characters redacted above, are then
replaced wherever they appear: URL paths and hosts, header values, text and binary bodies. They
are matched raw, percent-encoded and JSON-escaped. As a last check, ``save()`` refuses to write a
file that still contains any known secret.

Replay matches a request on ``match_on``. By default that is the method, the URL (query
parameters in any order, percent-encoding ignored) and the body (JSON compared as parsed objects,
forms as parameter sets), all after scrubbing. Identical requests get their recorded responses in
recorded order (a 429 then a 200 replays as a 429 then a 200). After the last recorded response,
the last one is repeated. Responses are real :class:`httpx.Response` objects. Bodies are stored
decoded (``Content-Encoding`` and ``Transfer-Encoding`` are dropped). JSON is stored
pretty-printed, but replayed byte for byte as the server sent it whenever the server used a
standard compact or spaced layout.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, cast
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit, urlunsplit

import httpx
import yaml

__all__ = [
    "FORMAT_VERSION",
    "REDACTED",
    "Body",
    "Cassette",
    "CassetteError",
    "CassetteFormatError",
    "Interaction",
    "RecordedRequest",
    "RecordedResponse",
]

#: What replaces a secret in a cassette.
REDACTED = "<REDACTED>"
#: The ``version`` field of cassette files written by this module.
FORMAT_VERSION = 1

Mode = Literal["replay", "record", "once"]
BodyEncoding = Literal["text", "json", "base64"]

_URL_REDACTED = quote(REDACTED, safe="")  # stays a valid URL and parses back to REDACTED
_MIN_LEARNED = 8  # shorter redacted values are not also replaced everywhere else
_MATCHERS = frozenset({"method", "url", "scheme", "host", "port", "path", "query", "body"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_DROP_REQUEST_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "accept-encoding",
        "user-agent",
        "transfer-encoding",
        "keep-alive",
        "te",
        "upgrade",
    }
)
_DROP_RESPONSE_HEADERS = frozenset(
    {"content-encoding", "transfer-encoding", "connection", "keep-alive"}
)
_SECRET_HEADER_HINTS = ("token", "secret", "password", "api-key", "apikey", "credential", "session")
_URL_HEADERS = frozenset({"location", "content-location"})
_URL_VALUE = re.compile(r"^https?://", re.IGNORECASE)
_LINK_TARGET = re.compile(r"<([^>]*)>")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # such text is stored as base64


def _json_styles() -> dict[str, tuple[tuple[str, str], bool, str]]:
    styles: dict[str, tuple[tuple[str, str], bool, str]] = {}
    for sep_name, separators in (("compact", (",", ":")), ("spaced", (", ", ": "))):
        for ensure_ascii in (False, True):
            for newline in ("", "\n"):
                name = (
                    sep_name + ("+ascii" if ensure_ascii else "") + ("+newline" if newline else "")
                )
                styles[name] = (separators, ensure_ascii, newline)
    return styles


#: Layouts in which a JSON body is re-serialised on replay (stored pretty in the file).
_JSON_STYLES = _json_styles()


class CassetteError(AssertionError):
    """Replay cannot answer a request (no cassette, no matching interaction), or a secret would
    be written to a cassette."""


class CassetteFormatError(ValueError):
    """A cassette file that cannot be read (not YAML, wrong version, malformed interaction)."""


# --------------------------------------------------------------------------------------------
# Recorded data


@dataclass(frozen=True)
class Body:
    """A stored body: text as is, pretty JSON re-serialised in ``json_style``, or base64."""

    text: str = ""
    encoding: BodyEncoding = "text"
    json_style: str | None = None

    def to_bytes(self) -> bytes:
        """The bytes to replay."""
        if self.encoding == "base64":
            try:
                return base64.b64decode(self.text.encode("ascii"))
            except (binascii.Error, UnicodeEncodeError) as exc:
                raise CassetteFormatError(f"invalid base64 body: {exc}") from exc
        if self.encoding == "json" and self.json_style is not None:
            if self.json_style not in _JSON_STYLES:
                raise CassetteFormatError(f"unknown json_style {self.json_style!r}")
            separators, ensure_ascii, newline = _JSON_STYLES[self.json_style]
            obj = json.loads(self.text)
            return (
                json.dumps(obj, separators=separators, ensure_ascii=ensure_ascii) + newline
            ).encode()
        return self.text.encode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.encoding != "text":
            out["encoding"] = self.encoding
        if self.json_style is not None:
            out["json_style"] = self.json_style
        if self.text:
            out["body"] = self.text
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Body:
        text = data.get("body") or ""
        encoding = data.get("encoding") or "text"
        style = data.get("json_style")
        if not isinstance(text, str):
            # A body left as YAML structure by a hand edit: keep it as JSON.
            return cls(json.dumps(text, indent=2, ensure_ascii=False), "json", None)
        if encoding not in ("text", "json", "base64"):
            raise CassetteFormatError(f"unknown body encoding {encoding!r}")
        if style is not None and style not in _JSON_STYLES:
            raise CassetteFormatError(f"unknown json_style {style!r}")
        return cls(text, cast(BodyEncoding, encoding), style)


Headers = tuple[tuple[str, str], ...]


def _header(headers: Headers, name: str) -> str:
    return next((v for k, v in headers if k == name), "")


@dataclass(frozen=True)
class RecordedRequest:
    """A scrubbed request: method, URL, headers (lower-case names) and body."""

    method: str
    url: str
    headers: Headers = ()
    body: Body = field(default_factory=Body)

    @property
    def content_type(self) -> str:
        return _header(self.headers, "content-type")

    def describe(self) -> str:
        return f"{self.method} {self.url}"


@dataclass(frozen=True)
class RecordedResponse:
    """A scrubbed response: status, headers (lower-case names) and decoded body."""

    status: int
    headers: Headers = ()
    body: Body = field(default_factory=Body)

    def to_httpx(self) -> httpx.Response:
        """A real response with this status, these headers and this content."""
        content = self.body.to_bytes()
        headers = [
            (k, v)
            for k, v in self.headers
            if k not in _DROP_RESPONSE_HEADERS and not (content and k == "content-length")
        ]
        return httpx.Response(self.status, headers=headers, content=content)


@dataclass(frozen=True)
class Interaction:
    """One recorded request and its response."""

    request: RecordedRequest
    response: RecordedResponse

    def to_dict(self) -> dict[str, Any]:
        req, resp = self.request, self.response
        return {
            "request": {
                "method": req.method,
                "url": req.url,
                "headers": _headers_to_yaml(req.headers),
                **req.body.to_dict(),
            },
            "response": {
                "status": resp.status,
                "headers": _headers_to_yaml(resp.headers),
                **resp.body.to_dict(),
            },
        }

    @classmethod
    def from_dict(cls, data: Any) -> Interaction:
        if not isinstance(data, dict):
            raise CassetteFormatError("an interaction must be a mapping")
        req, resp = data.get("request"), data.get("response")
        if not isinstance(req, dict) or not isinstance(resp, dict):
            raise CassetteFormatError("an interaction needs a request and a response mapping")
        method, url, status = req.get("method"), req.get("url"), resp.get("status")
        if not isinstance(method, str) or not isinstance(url, str):
            raise CassetteFormatError("a request needs a method and a url")
        if not isinstance(status, int):
            raise CassetteFormatError("a response needs an integer status")
        return cls(
            RecordedRequest(
                method.upper(), url, _headers_from_yaml(req.get("headers")), Body.from_dict(req)
            ),
            RecordedResponse(status, _headers_from_yaml(resp.get("headers")), Body.from_dict(resp)),
        )


def _headers_to_yaml(headers: Headers) -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    for name, value in headers:
        prev = out.get(name)
        if prev is None:
            out[name] = value
        elif isinstance(prev, list):
            prev.append(value)
        else:
            out[name] = [prev, value]
    return out


def _headers_from_yaml(data: Any) -> Headers:
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise CassetteFormatError("headers must be a mapping")
    out: list[tuple[str, str]] = []
    for name, value in data.items():
        for v in value if isinstance(value, list) else [value]:
            out.append((str(name).lower(), str(v)))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Scrubbing


class _Scrubber:
    """Redacts secrets; learns redacted values so that they are also replaced everywhere."""

    def __init__(
        self,
        secrets: Iterable[str],
        headers: Iterable[str],
        params: Iterable[str],
        json_keys: Iterable[str],
    ) -> None:
        self._secrets = {s for s in secrets if s}
        self.headers = frozenset(h.lower() for h in headers)
        self.params = frozenset(p.lower() for p in params)
        self.json_keys = frozenset(k.lower() for k in json_keys)
        self.form_keys = self.params | self.json_keys
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None
        self._bpattern: re.Pattern[bytes] | None = None
        self._compiled = False

    # -- literal secrets

    def learn(self, value: str) -> None:
        value = value.strip()
        if len(value) < _MIN_LEARNED or REDACTED in value or _URL_REDACTED in value:
            return
        with self._lock:
            if value not in self._secrets:
                self._secrets.add(value)
                self._compiled = False

    def variants(self) -> list[str]:
        """Every known secret as it may appear: raw, percent-encoded, JSON-escaped."""
        with self._lock:
            secrets = list(self._secrets)
        out: set[str] = set()
        for s in secrets:
            out.update(
                (
                    s,
                    quote(s, safe=""),
                    quote(s),
                    quote_plus(s),
                    json.dumps(s)[1:-1],
                    json.dumps(s, ensure_ascii=False)[1:-1],
                )
            )
        out.discard("")
        return sorted(out, key=lambda v: (-len(v), v))

    def _patterns(self) -> tuple[re.Pattern[str] | None, re.Pattern[bytes] | None]:
        with self._lock:
            if self._compiled:
                return self._pattern, self._bpattern
        variants = self.variants()
        pattern = re.compile("|".join(map(re.escape, variants))) if variants else None
        raw = [v.encode("utf-8") for v in variants]
        bpattern = re.compile(b"|".join(map(re.escape, raw))) if raw else None
        with self._lock:
            self._pattern, self._bpattern, self._compiled = pattern, bpattern, True
        return pattern, bpattern

    def literal(self, text: str, replacement: str = REDACTED) -> str:
        pattern = self._patterns()[0]
        return pattern.sub(replacement, text) if pattern is not None and text else text

    def literal_bytes(self, data: bytes) -> bytes:
        pattern = self._patterns()[1]
        return pattern.sub(REDACTED.encode(), data) if pattern is not None and data else data

    # -- structure

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, colon, password = userinfo.partition(":")
            if colon and password:
                self.learn(unquote(password))
                netloc = f"{user}:{_URL_REDACTED}@{hostport}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(self._secret_param(k, v, self.params) for k, v in pairs):
                query = urlencode(self._redact_pairs(pairs, self.params))
        scrubbed = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
        return self.literal(scrubbed, _URL_REDACTED)

    @staticmethod
    def _secret_param(key: str, value: str, keys: frozenset[str]) -> bool:
        return key.lower() in keys and bool(value) and value != REDACTED

    def _redact_pairs(
        self, pairs: list[tuple[str, str]], keys: frozenset[str]
    ) -> list[tuple[str, str]]:
        out = []
        for k, v in pairs:
            if self._secret_param(k, v, keys):
                self.learn(v)
                v = REDACTED
            out.append((k, v))
        return out

    def form(self, text: str) -> str:
        pairs = parse_qsl(text, keep_blank_values=True)
        if any(self._secret_param(k, v, self.form_keys) for k, v in pairs):
            text = urlencode(self._redact_pairs(pairs, self.form_keys))
        return self.literal(text, _URL_REDACTED)

    def is_secret_header(self, name: str) -> bool:
        name = name.lower()
        return name in self.headers or any(hint in name for hint in _SECRET_HEADER_HINTS)

    def _cookie(self, pair: str) -> str:
        name, eq, value = pair.partition("=")
        if not eq:
            return pair
        if value.strip() and value.strip() != REDACTED:
            self.learn(value.strip().strip('"'))
        return f"{name}={REDACTED}"

    def header(self, name: str, value: str) -> str:
        name = name.lower()
        if self.is_secret_header(name):
            if name == "cookie":
                value = ";".join(self._cookie(c) for c in value.split(";"))
            elif name == "set-cookie":
                first, sep, rest = value.partition(";")
                value = self._cookie(first) + sep + rest
            elif name in ("authorization", "proxy-authorization"):
                scheme, space, credentials = value.strip().partition(" ")
                if space and credentials.strip():
                    self.learn(credentials)
                    value = f"{scheme} {REDACTED}"
                else:
                    self.learn(value)
                    value = REDACTED
            else:
                self.learn(value)
                value = REDACTED
        elif name == "link":
            value = _LINK_TARGET.sub(lambda m: f"<{self.url(m.group(1))}>", value)
        elif name in _URL_HEADERS:
            value = self.url(value)
        return self._relit_header(name, value)

    def _relit_header(self, name: str, value: str) -> str:
        if name == "link" or name in _URL_HEADERS:
            return self.literal(value, _URL_REDACTED)
        return self.literal(value)

    def _learn_json(self, obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(k, str) and k.lower() in self.json_keys and isinstance(v, str):
                    self.learn(v)
                else:
                    self._learn_json(v)
        elif isinstance(obj, list):
            for v in obj:
                self._learn_json(v)

    def _json(self, obj: Any) -> Any:
        if isinstance(obj, dict):
            out: dict[str, Any] = {}
            for k, v in obj.items():
                key = self.literal(k)
                secret = k.lower() in self.json_keys and v not in (None, "", REDACTED)
                if secret and isinstance(v, str | int | float) and not isinstance(v, bool):
                    out[key] = REDACTED
                else:
                    out[key] = self._json(v)
            return out
        if isinstance(obj, list):
            return [self._json(v) for v in obj]
        if isinstance(obj, str):
            return self.url(obj) if _URL_VALUE.match(obj) else self.literal(obj)
        return obj

    def body(self, raw: bytes, content_type: str) -> Body:
        if not raw:
            return Body()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self._binary(raw)
        if _CONTROL_CHARS.search(text):
            return self._binary(raw)
        content_type = content_type.lower()
        if "json" in content_type:
            try:
                obj = json.loads(text)
            except ValueError:
                pass
            else:
                return self._json_body(obj, text)
        if "x-www-form-urlencoded" in content_type:
            return Body(self.form(text))
        return Body(self.literal(text))

    def _json_body(self, obj: Any, text: str) -> Body:
        style = next(
            (
                name
                for name, (sep, ensure_ascii, newline) in _JSON_STYLES.items()
                if text.endswith("\n") == bool(newline)
                and json.dumps(obj, separators=sep, ensure_ascii=ensure_ascii) + newline == text
            ),
            None,
        )
        self._learn_json(obj)
        scrubbed = self._json(obj)
        if style is None and scrubbed == obj:
            return Body(self.literal(text))  # unusual layout, nothing to redact: keep it exactly
        return Body(json.dumps(scrubbed, indent=2, ensure_ascii=False), "json", style)

    def _binary(self, raw: bytes) -> Body:
        return Body(base64.encodebytes(self.literal_bytes(raw)).decode("ascii"), "base64")

    def relit_body(self, body: Body, content_type: str) -> Body:
        """``body`` with the literal secrets known now replaced."""
        if not body.text:
            return body
        if body.encoding == "base64":
            raw = base64.b64decode(body.text.encode("ascii"))
            scrubbed = self.literal_bytes(raw)
            if scrubbed == raw:
                return body
            return Body(base64.encodebytes(scrubbed).decode("ascii"), "base64")
        is_form = body.encoding == "text" and "x-www-form-urlencoded" in content_type.lower()
        text = self.literal(body.text, _URL_REDACTED if is_form else REDACTED)
        return body if text == body.text else Body(text, body.encoding, body.json_style)

    # -- whole exchanges

    def request(self, request: httpx.Request) -> RecordedRequest:
        content_type = request.headers.get("content-type", "")
        headers = tuple(
            (k.lower(), self.header(k, v))
            for k, v in request.headers.multi_items()
            if k.lower() not in _DROP_REQUEST_HEADERS
        )
        url = self.url(str(request.url))
        body = self.body(request.content, content_type)
        return self.relit_request(RecordedRequest(request.method.upper(), url, headers, body))

    def response(self, response: httpx.Response, content: bytes) -> RecordedResponse:
        content_type = response.headers.get("content-type", "")
        body = self.body(content, content_type)
        headers = tuple(
            (k.lower(), self.header(k, v))
            for k, v in response.headers.multi_items()
            if k.lower() not in _DROP_RESPONSE_HEADERS
            and not (content and k.lower() == "content-length")
        )
        return self.relit_response(RecordedResponse(response.status_code, headers, body))

    def relit_request(self, req: RecordedRequest) -> RecordedRequest:
        return RecordedRequest(
            req.method,
            self.literal(req.url, _URL_REDACTED),
            tuple((k, self._relit_header(k, v)) for k, v in req.headers),
            self.relit_body(req.body, req.content_type),
        )

    def relit_response(self, resp: RecordedResponse) -> RecordedResponse:
        return RecordedResponse(
            resp.status,
            tuple((k, self._relit_header(k, v)) for k, v in resp.headers),
            self.relit_body(resp.body, _header(resp.headers, "content-type")),
        )

    def leaks(self, text: str) -> int:
        """How many known secret spellings occur in ``text``."""
        return sum(1 for v in self.variants() if v in text)


# --------------------------------------------------------------------------------------------
# Matching


def _body_key(req: RecordedRequest) -> tuple[str, Any]:
    raw = req.body.to_bytes()
    if not raw:
        return ("empty", None)
    content_type = req.content_type.lower()
    if req.body.encoding == "json" or "json" in content_type:
        try:
            return ("json", json.loads(raw))
        except ValueError:
            pass
    if "x-www-form-urlencoded" in content_type:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return ("form", sorted(parse_qsl(text, keep_blank_values=True)))
    return ("raw", raw)


def _match_key(req: RecordedRequest, match_on: Sequence[str]) -> tuple[Any, ...]:
    parts = urlsplit(req.url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    url = {
        "scheme": scheme,
        "host": (parts.hostname or "").lower(),
        "port": port,
        "path": unquote(parts.path) or "/",
        "query": sorted(parse_qsl(parts.query, keep_blank_values=True)),
    }
    key: list[Any] = []
    for name in match_on:
        if name == "method":
            key.append(req.method.upper())
        elif name == "url":
            key.append(tuple(url.values()))
        elif name == "body":
            key.append(_body_key(req))
        else:
            key.append(url[name])
    return tuple(key)


# --------------------------------------------------------------------------------------------
# YAML


_YAML_BREAKS = re.compile("[\r\x85\u2028\u2029]")


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as ``|`` blocks, so JSON bodies stay readable and diff well."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # YAML would fold other line breaks inside a block: those strings are double-quoted instead.
    style = "|" if "\n" in data and not _YAML_BREAKS.search(data) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


# --------------------------------------------------------------------------------------------
# The cassette


class Cassette:
    """Recorded HTTP interactions in a YAML file, served by :meth:`transport` /
    :meth:`async_transport`.

    ``mode``: ``"replay"`` never touches the network (a missing file raises
    :class:`CassetteError`). ``"record"`` always goes to the network and rewrites the file.
    ``"once"`` replays if the file exists and records otherwise.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        mode: Mode = "once",
        secrets: Iterable[str] = (),
        scrub_headers: Iterable[str] = (
            "authorization",
            "proxy-authorization",
            "cookie",
            "set-cookie",
            "x-api-key",
            "api-key",
            "x-api-token",
        ),
        scrub_params: Iterable[str] = (
            "api_key",
            "apikey",
            "key",
            "token",
            "access_token",
            "refresh_token",
            "client_secret",
            "token_auth",
            "password",
        ),
        scrub_json_keys: Iterable[str] = (
            "access_token",
            "refresh_token",
            "client_secret",
            "password",
            "token",
            "api_key",
        ),
        match_on: tuple[str, ...] = ("method", "url", "body"),
    ) -> None:
        if mode not in ("replay", "record", "once"):
            raise ValueError(f"mode must be 'replay', 'record' or 'once', not {mode!r}")
        unknown = set(match_on) - _MATCHERS
        if unknown or not match_on:
            raise ValueError(
                f"match_on must be a non-empty subset of {sorted(_MATCHERS)}, got {match_on!r}"
            )
        self.path = Path(path)
        self.mode: Mode = mode
        self.match_on = tuple(match_on)
        self.interactions: list[Interaction] = []
        self._scrubber = _Scrubber(secrets, scrub_headers, scrub_params, scrub_json_keys)
        self._lock = threading.RLock()
        self._played: set[int] = set()
        self._keys: list[tuple[Any, ...]] = []
        self._recording = mode == "record" or (mode == "once" and not self.path.exists())
        if not self._recording:
            if not self.path.exists():
                raise CassetteError(
                    f"cassette {self.path} does not exist (mode='replay'); "
                    "record it once against the real API with mode='record'"
                )
            self.interactions = self._load()

    def __repr__(self) -> str:
        state = "recording" if self._recording else "replaying"
        return f"Cassette({str(self.path)!r}, {state}, {len(self.interactions)} interactions)"

    @property
    def recording(self) -> bool:
        """True when requests go to the network and are written to the file on :meth:`save`."""
        return self._recording

    # -- transports

    def transport(self, inner: httpx.BaseTransport | None = None) -> httpx.BaseTransport:
        """A sync transport. When recording, it wraps ``inner`` (default
        ``httpx.HTTPTransport()``). When replaying, ``inner`` is never used, only closed."""
        if self._recording and inner is None:
            inner = httpx.HTTPTransport()
        return _CassetteTransport(self, inner)

    def async_transport(
        self, inner: httpx.AsyncBaseTransport | None = None
    ) -> httpx.AsyncBaseTransport:
        """The asyncio/anyio counterpart of :meth:`transport`."""
        if self._recording and inner is None:
            inner = httpx.AsyncHTTPTransport()
        return _AsyncCassetteTransport(self, inner)

    # -- file

    def _load(self) -> list[Interaction]:
        try:
            data = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise CassetteFormatError(f"cassette {self.path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise CassetteFormatError(
                f"{self.path} is not a version {FORMAT_VERSION} cintel cassette"
            )
        items = data.get("interactions") or []
        if not isinstance(items, list):
            raise CassetteFormatError(f"cassette {self.path}: interactions must be a list")
        out = []
        for n, item in enumerate(items):
            try:
                out.append(Interaction.from_dict(item))
            except CassetteFormatError as exc:
                raise CassetteFormatError(f"cassette {self.path}, interaction #{n}: {exc}") from exc
        return out

    def save(self) -> None:
        """Write the recorded interactions (a no-op when replaying). The transports call this
        when closed, and so does leaving a ``with`` block."""
        if not self._recording:
            return
        scrub = self._scrubber
        with self._lock:
            self.interactions[:] = [
                Interaction(scrub.relit_request(i.request), scrub.relit_response(i.response))
                for i in self.interactions
            ]
            data = {
                "version": FORMAT_VERSION,
                "interactions": [i.to_dict() for i in self.interactions],
            }
            text = yaml.dump(
                data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 30
            )
            if scrub.leaks(text):
                raise CassetteError(
                    f"refusing to write cassette {self.path}: a secret value would be written"
                )
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                    f.write(text)
                Path(tmp).replace(self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.save()

    # -- record / replay (called by the transports)

    def _record(
        self, request: httpx.Request, response: httpx.Response, content: bytes
    ) -> httpx.Response:
        interaction = Interaction(
            self._scrubber.request(request), self._scrubber.response(response, content)
        )
        with self._lock:
            self.interactions.append(interaction)
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "transfer-encoding")
            and not (content and k.lower() == "content-length")
        ]
        extensions = {
            k: v for k, v in response.extensions.items() if k in ("http_version", "reason_phrase")
        }
        return httpx.Response(
            response.status_code, headers=headers, content=content, extensions=extensions
        )

    def _play(self, request: httpx.Request) -> httpx.Response:
        recorded = self._scrubber.request(request)
        key = _match_key(recorded, self.match_on)
        with self._lock:
            if len(self._keys) != len(self.interactions):
                self._keys = [_match_key(i.request, self.match_on) for i in self.interactions]
            candidates = [n for n, k in enumerate(self._keys) if k == key]
            if not candidates:
                raise CassetteError(self._no_match_message(recorded))
            index = next((n for n in candidates if n not in self._played), candidates[-1])
            self._played.add(index)
            response = self.interactions[index].response
        return response.to_httpx()

    def _no_match_message(self, req: RecordedRequest) -> str:
        with_body = "body" in self.match_on

        def describe(r: RecordedRequest) -> str:
            text = r.describe()
            if with_body and r.body.text:
                body = r.body.text if r.body.encoding != "base64" else "<binary>"
                text += f"  body: {_excerpt(body)}"
            return text

        wanted = describe(req)
        recorded = list(dict.fromkeys(describe(i.request) for i in self.interactions))
        closest = sorted(
            recorded,
            key=lambda r: difflib.SequenceMatcher(None, r, wanted).ratio(),
            reverse=True,
        )[:3]
        lines = [
            f"no recorded interaction matches {wanted}",
            f"cassette: {self.path} ({len(self.interactions)} interactions, "
            f"matching on {', '.join(self.match_on)})",
        ]
        if closest:
            lines.append("closest recorded requests:")
            lines.extend(f"  {r}" for r in closest)
        lines.append("re-record with mode='record' if the connector's requests changed")
        return "\n".join(lines)

    def assert_all_played(self) -> None:
        """Fail unless every recorded interaction was replayed (nothing to check when
        recording)."""
        if self._recording:
            return
        with self._lock:
            unplayed = [
                f"  #{n} {i.request.describe()}"
                for n, i in enumerate(self.interactions)
                if n not in self._played
            ]
        if unplayed:
            raise CassetteError(
                f"{len(unplayed)} recorded interaction(s) in {self.path} were never replayed:\n"
                + "\n".join(unplayed)
            )


def _excerpt(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


class _CassetteTransport(httpx.BaseTransport):
    def __init__(self, cassette: Cassette, inner: httpx.BaseTransport | None) -> None:
        self._cassette = cassette
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        if not self._cassette.recording:
            return self._cassette._play(request)
        if self._inner is None:  # pragma: no cover - transport() always sets one
            raise RuntimeError("a recording cassette transport needs an inner transport")
        response = self._inner.handle_request(request)
        try:
            content = response.read()
        finally:
            response.close()
        return self._cassette._record(request, response, content)

    def close(self) -> None:
        try:
            if self._inner is not None:
                self._inner.close()
        finally:
            self._cassette.save()


class _AsyncCassetteTransport(httpx.AsyncBaseTransport):
    def __init__(self, cassette: Cassette, inner: httpx.AsyncBaseTransport | None) -> None:
        self._cassette = cassette
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        if not self._cassette.recording:
            return self._cassette._play(request)
        if self._inner is None:  # pragma: no cover - async_transport() always sets one
            raise RuntimeError("a recording cassette transport needs an inner transport")
        response = await self._inner.handle_async_request(request)
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        return self._cassette._record(request, response, content)

    async def aclose(self) -> None:
        try:
            if self._inner is not None:
                await self._inner.aclose()
        finally:
            self._cassette.save()
