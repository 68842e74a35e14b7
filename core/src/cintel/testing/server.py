"""A real HTTP server on 127.0.0.1 for tests and benchmarks, with fault injection.

:class:`LoopbackServer` serves any ``handler(Request) -> Reply`` callable over real
sockets (HTTP/1.1, keep-alive, one thread per connection) and can inject the faults
that connectors must survive: latency, 429s, 500/503s, dropped connections,
truncated bodies and malformed JSON.  :class:`AcmeApi` is a small fictional REST
API ("Acme CRM", contacts with keyset/next-url/link/offset/page pagination and an
optional rate limit) to serve with it.  Standard library only.

Example::

    import httpx
    from cintel.testing.server import AcmeApi, Faults, LoopbackServer

    api = AcmeApi(contacts=120)
    with LoopbackServer(api, faults=Faults(rate_500=0.2, seed=7)) as server:
        with httpx.Client(base_url=server.base_url, headers=api.auth_headers) as client:
            page = client.get("/v1/contacts", params={"limit": 100})
        print(page.status_code, server.fault_log)

Faults are decided under a lock with ``random.Random(faults.seed)`` (re-seeded each
time :attr:`LoopbackServer.faults` is assigned), one draw per request in arrival
order, so a given sequence of requests always meets the same faults.  A request
(method, target and body) is never faulted more than ``max_consecutive`` times in
a row, so a client with ``max_consecutive + 1`` attempts always gets through.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import json as _json
import math
import random
import socket
import socketserver
import sys
import threading
import time
import traceback
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

__all__ = ["AcmeApi", "FaultKind", "Faults", "LoopbackServer", "Reply", "Request"]

FaultKind = Literal["429", "500", "503", "drop", "truncate", "malformed"]

_MALFORMED_BODY: Final = b'{"results": ['
_NO_BODY_STATUSES: Final = frozenset({204, 304})
_STOP_TIMEOUT: Final = 5.0
_IDLE_TIMEOUT: Final = 120.0


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request as a handler sees it."""

    method: str
    path: str  # percent-decoded, without the query string
    query: dict[str, str] = field(default_factory=dict)  # last value wins
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased keys
    body: bytes = b""

    def json(self) -> Any:
        """The body parsed as JSON."""
        return _json.loads(self.body)


@dataclass(slots=True)
class Reply:
    """What a handler returns: ``json`` is serialised when ``body`` is None."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Faults:
    """Faults injected by a :class:`LoopbackServer`; rates are probabilities per request.

    ``latency`` delays every response (faulted or not).  ``rate_429`` answers 429, with a
    ``Retry-After: <retry_after_seconds>`` header always (``retry_after=True``), never
    (False) or on every other 429 starting with the first (None).  ``rate_500`` answers
    500 and 503 alternately with a JSON error body.  ``rate_drop`` closes the connection
    without a response, ``rate_truncate`` sends the handler's status and headers with the
    full Content-Length but only half the body, then closes; ``rate_malformed`` answers 200
    with a body that is not valid JSON.  The rates must sum to at most 1.
    """

    latency: float = 0.0
    rate_429: float = 0.0
    retry_after: bool | None = None
    retry_after_seconds: int = 0
    rate_500: float = 0.0
    rate_drop: float = 0.0
    rate_truncate: float = 0.0
    rate_malformed: float = 0.0
    max_consecutive: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        rates = self._rates()
        for name, rate in rates:
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"Faults.rate_{name} must be between 0 and 1, got {rate}")
        if sum(rate for _, rate in rates) > 1.0 + 1e-9:
            raise ValueError("the fault rates must sum to at most 1")
        if self.latency < 0 or self.retry_after_seconds < 0 or self.max_consecutive < 0:
            raise ValueError("latency, retry_after_seconds and max_consecutive must be >= 0")

    def _rates(self) -> tuple[tuple[FaultKind, float], ...]:
        # Order of the cumulative draw: keep stable, it defines which fault a draw means.
        return (
            ("drop", self.rate_drop),
            ("truncate", self.rate_truncate),
            ("malformed", self.rate_malformed),
            ("500", self.rate_500),
            ("429", self.rate_429),
        )


@dataclass(frozen=True, slots=True)
class _Decision:
    kind: FaultKind | None
    retry_after: bool = False


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = _IDLE_TIMEOUT  # idle keep-alive connections are closed after this
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and benchmarks do not want access logs on stderr."""

    def _dispatch(self) -> None:
        self.server.owner._serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, owner: LoopbackServer, address: tuple[str, int]) -> None:
        self.owner = owner
        self.connections: dict[socket.socket, threading.Thread] = {}
        self.connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup: skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.socket.getsockname()[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        # Like ThreadingMixIn, but remembers each connection so stop() can close it.
        if not isinstance(request, socket.socket):  # pragma: no cover (TCP only)
            raise TypeError("LoopbackServer serves TCP connections only")
        thread = threading.Thread(
            target=self._process,
            args=(request, client_address),
            name=f"loopback-conn-{client_address}",
            daemon=True,
        )
        with self.connections_lock:
            self.connections[request] = thread
        self.owner._connection_opened()
        thread.start()

    def _process(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 (recorded by handle_error)
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self.connections_lock:
                self.connections.pop(request, None)

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        # Clients hanging up are normal; anything else is a bug worth seeing in errors.
        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, OSError):
            self.owner._record_error(f"connection {client_address}: {traceback.format_exc()}")


class LoopbackServer:
    """Serve ``handler`` on 127.0.0.1 in a background thread, with optional faults.

    Use as a context manager or call :meth:`start` / :meth:`stop`.  ``requests`` holds
    every request received (faulted ones too), ``fault_log`` a ``(kind, "METHOD target")``
    pair per injected fault, ``errors`` the handler exceptions (each answered with a 500),
    ``max_in_flight`` the most requests handled at once and ``connections`` the number of
    TCP connections accepted.  Only the truncate fault calls the handler; the other faults
    answer without it.
    """

    def __init__(
        self,
        handler: Callable[[Request], Reply],
        *,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if host == "localhost":
            host = "127.0.0.1"
        try:
            loopback = ipaddress.IPv4Address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"LoopbackServer binds an IPv4 loopback address only, not {host!r}")
        self._handler = handler
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._faults = faults or Faults()
        self._rng = random.Random(self._faults.seed)  # noqa: S311 (not crypto)
        self._streaks: dict[tuple[str, str, bytes], int] = {}
        self._count_429 = 0
        self._count_5xx = 0
        self._in_flight = 0
        self.requests: list[Request] = []
        self.fault_log: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.max_in_flight = 0
        self.connections = 0

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> LoopbackServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("LoopbackServer is already started")
        self._stopping.clear()
        httpd = _Server(self, (self._host, self._port))
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.01},  # how long stop() may wait for the loop
            name=f"loopback-server-{httpd.server_port}",
            daemon=True,
        )
        self._httpd, self._thread = httpd, thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and every open connection (idempotent)."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()  # cuts injected latency short
        httpd.shutdown()
        httpd.server_close()
        with httpd.connections_lock:
            open_connections = list(httpd.connections.items())
        for sock, _ in open_connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes threads waiting on keep-alive reads
        deadline = time.monotonic() + _STOP_TIMEOUT
        for _, conn_thread in open_connections:
            conn_thread.join(max(0.0, deadline - time.monotonic()))
        thread.join(max(0.0, deadline - time.monotonic()))
        self._httpd = self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (raises if not started)."""
        if self._httpd is None:
            raise RuntimeError("LoopbackServer is not started")
        return self._httpd.server_port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (raises if not started)."""
        return f"http://{self._host}:{self.port}"

    def url(self, path: str) -> str:
        """``base_url`` joined with ``path`` (which starts with ``/``)."""
        return self.base_url + path

    # -- faults and statistics -----------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The faults in force; assigning re-seeds the fault generator and its counters."""
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults
            self._rng = random.Random(faults.seed)  # noqa: S311 (not crypto)
            self._streaks.clear()
            self._count_429 = self._count_5xx = 0

    @property
    def in_flight(self) -> int:
        """Requests being handled right now."""
        with self._lock:
            return self._in_flight

    def reset_stats(self) -> None:
        """Clear requests, fault_log, errors, connections and max_in_flight."""
        with self._lock:
            self.requests.clear()
            self.fault_log.clear()
            self.errors.clear()
            self.max_in_flight = self._in_flight
            self.connections = 0

    def _connection_opened(self) -> None:
        with self._lock:
            self.connections += 1

    def _record_error(self, text: str) -> None:
        with self._lock:
            self.errors.append(text)

    def _decide(self, faults: Faults, key: tuple[str, str, bytes]) -> _Decision:
        """Pick this request's fault; call with the lock held."""
        draw = self._rng.random()  # always drawn, so decisions depend on arrival order only
        kind: FaultKind | None = None
        threshold = 0.0
        for name, rate in faults._rates():
            threshold += rate
            if draw < threshold:
                kind = name
                break
        streak = self._streaks.get(key, 0)
        if kind is None or streak >= faults.max_consecutive:
            self._streaks.pop(key, None)
            return _Decision(None)
        self._streaks[key] = streak + 1
        if kind == "500":
            kind = "500" if self._count_5xx % 2 == 0 else "503"
            self._count_5xx += 1
            return _Decision(kind)
        if kind == "429":
            if faults.retry_after is None:
                with_header = self._count_429 % 2 == 0
            else:
                with_header = faults.retry_after
            self._count_429 += 1
            return _Decision("429", with_header)
        return _Decision(kind)

    # -- serving -------------------------------------------------------------------------

    def _serve(self, http: _RequestHandler) -> None:
        try:
            body = _read_body(http)
        except (ValueError, OSError):
            http.close_connection = True
            with contextlib.suppress(OSError):
                http.send_error(400, "unreadable request body")
            return
        split = urlsplit(http.path)
        headers: dict[str, str] = {}
        for name, value in http.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        request = Request(
            method=http.command,
            path=unquote(split.path),
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers=headers,
            body=body,
        )
        line = f"{http.command} {http.path}"
        with self._lock:
            self.requests.append(request)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            faults = self._faults
            decision = self._decide(faults, (http.command, http.path, body))
            if decision.kind is not None:
                self.fault_log.append((decision.kind, line))
        try:
            if faults.latency > 0:
                self._stopping.wait(faults.latency)
            self._respond(http, request, line, decision, faults)
        except OSError:  # the client went away mid-response
            http.close_connection = True
        finally:
            with self._lock:
                self._in_flight -= 1

    def _respond(
        self,
        http: _RequestHandler,
        request: Request,
        line: str,
        decision: _Decision,
        faults: Faults,
    ) -> None:
        json_type = {"Content-Type": "application/json"}
        match decision.kind:
            case "drop":
                http.close_connection = True  # nothing written: the client sees EOF
            case "429":
                headers = dict(json_type)
                if decision.retry_after:
                    headers["Retry-After"] = str(faults.retry_after_seconds)
                body = _error_body("rate_limited", "injected fault: too many requests")
                _write(http, 429, headers, body)
            case "500" | "503":
                body = _error_body("server_error", f"injected fault: HTTP {decision.kind}")
                _write(http, int(decision.kind), json_type, body)
            case "malformed":
                _write(http, 200, json_type, _MALFORMED_BODY)
            case _:
                status, headers, body = self._call_handler(request, line)
                _write(http, status, headers, body, truncate=decision.kind == "truncate")

    def _call_handler(self, request: Request, line: str) -> tuple[int, dict[str, str], bytes]:
        try:
            return _render(self._handler(request))
        except Exception as exc:  # noqa: BLE001 (any handler failure becomes a 500)
            text = f"{type(exc).__name__}: {exc}"
            self._record_error(f"{line}: {traceback.format_exc()}")
            return 500, {"Content-Type": "application/json"}, _error_body("handler_error", text)


def _read_body(http: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in http.headers.get("Transfer-Encoding", "").lower():
        chunks: list[bytes] = []
        while True:
            size = int(http.rfile.readline(65537).split(b";")[0].strip(), 16)
            if size == 0:
                while http.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunk = http.rfile.read(size)
            if len(chunk) != size:
                raise ValueError("short chunk")
            chunks.append(chunk)
            http.rfile.readline(3)
    length = int(http.headers.get("Content-Length") or 0)
    if length < 0:
        raise ValueError("negative Content-Length")
    body = http.rfile.read(length) if length else b""
    if len(body) != length:
        raise ValueError("short request body")
    return body


def _render(reply: Reply) -> tuple[int, dict[str, str], bytes]:
    if not isinstance(reply, Reply):
        raise TypeError(f"handler returned {type(reply).__name__}, not Reply")
    headers = dict(reply.headers)
    if reply.body is not None:
        body = reply.body
    else:
        body = _json.dumps(reply.json).encode()
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    if reply.status < 200 or reply.status in _NO_BODY_STATUSES:
        body = b""
    return reply.status, headers, body


def _write(
    http: _RequestHandler,
    status: int,
    headers: dict[str, str],
    body: bytes,
    *,
    truncate: bool = False,
) -> None:
    bodiless = status < 200 or status in _NO_BODY_STATUSES
    if truncate and not body and not bodiless:
        body = b"{}"  # something to cut in half
    http.send_response(status)
    for name, value in headers.items():
        if name.lower() not in ("content-length", "transfer-encoding"):
            http.send_header(name, value)
    if not bodiless:
        http.send_header("Content-Length", str(len(body)))
    http.end_headers()
    if truncate:
        http.close_connection = True
        body = body[: len(body) // 2]
    if http.command != "HEAD" and body:
        http.wfile.write(body)
    http.wfile.flush()


def _error_body(code: str, message: str) -> bytes:
    return _json.dumps({"error": {"code": code, "message": message}}).encode()


# -- Acme CRM --------------------------------------------------------------------------------

# fmt: off
_FIRST_NAMES: Final = (
    "Ada", "Alan", "Barbara", "Claude", "Donald", "Edsger", "Frances", "Grace", "Hedy",
    "Ivan", "John", "Katherine", "Linus", "Margaret", "Niklaus", "Radia", "Sophie", "Tim",
)
_LAST_NAMES: Final = (
    "Allen", "Backus", "Cerf", "Dijkstra", "Eckert", "Floyd", "Hopper", "Kahan", "Knuth",
    "Lamarr", "Liskov", "Perlman", "Ritchie", "Shannon", "Thompson", "Turing", "Wirth",
)
# fmt: on
_COMPANIES: Final = (
    ("Globex", "globex.example"),
    ("Initech", "initech.example"),
    ("Umbrella", "umbrella.example"),
    ("Hooli", "hooli.example"),
    ("Stark Industries", "stark.example"),
    ("Wayne Enterprises", "wayne.example"),
)
_EPOCH: Final = datetime(2024, 5, 1, 8, 0, 0, tzinfo=UTC)
_STEPS: Final = (0, 0, 1, 2, 3)  # seconds between successive updated_at values: many ties
_PAGING: Final = ("cursor", "next_url", "link", "offset", "page")


def _iso(moment: datetime) -> str:
    """``2024-05-01T08:00:03Z`` for an aware UTC datetime (whole seconds)."""
    return moment.isoformat()[:19] + "Z"  # several times faster than strftime


class _BadRequest(Exception):
    pass


class AcmeApi:
    """Acme CRM: contacts with ids, emails, names, phones and updated_at; deterministic from a seed.

    A handler for :class:`LoopbackServer`.  Routes (``Authorization: Bearer <token>``):

    - ``GET /v1/me`` -> ``{"account": "acme-demo"}``
    - ``GET /v1/contacts`` sorted by ``(updated_at, id)``; ``updated_since`` (inclusive,
      ISO 8601), ``limit`` (default 50, at most ``page_size_max``) and ``paging`` one of
      ``cursor`` (``meta.next_cursor``, pass back as ``cursor``), ``next_url`` (``next``),
      ``link`` (bare list, ``Link: <url>; rel="next"``), ``offset`` (``offset``, ``total``)
      or ``page`` (1-based ``page``, ``pages``).  The cursor styles are keyset paging:
      stable while contacts are added or touched during a read.

    ``rate_limit=(n, seconds)`` allows n requests per fixed window per token (the window
    starts at the first request after the previous one ended; time from :attr:`clock`,
    ``time.monotonic`` unless a test replaces it).
    """

    def __init__(
        self,
        contacts: int = 250,
        *,
        seed: int = 0,
        token: str = "acme-secret-token",  # noqa: S107 (a fictional API's token)
        page_size_max: int = 100,
        rate_limit: tuple[int, float] | None = None,
    ) -> None:
        if contacts < 0 or page_size_max < 1:
            raise ValueError("contacts must be >= 0 and page_size_max >= 1")
        if rate_limit is not None and (rate_limit[0] < 1 or rate_limit[1] <= 0):
            raise ValueError("rate_limit is (requests >= 1, window seconds > 0)")
        self.token = token
        self.page_size_max = page_size_max
        self.rate_limit = rate_limit
        self.clock: Callable[[], float] = time.monotonic
        self.contacts: list[dict[str, Any]] = []
        self.requests_by_path: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._rng = random.Random(seed)  # noqa: S311 (not crypto)
        self._by_id: dict[str, dict[str, Any]] = {}
        self._keys: list[tuple[str, str]] = []  # sorted (updated_at, id)
        self._latest = _EPOCH
        self._windows: dict[str, tuple[float, int]] = {}
        with self._lock:
            self._generate(contacts)

    @property
    def auth_headers(self) -> dict[str, str]:
        """The ``Authorization`` header that the API accepts."""
        return {"Authorization": f"Bearer {self.token}"}

    def add_contacts(self, n: int) -> list[dict[str, Any]]:
        """Create ``n`` contacts whose updated_at is later than every existing one."""
        with self._lock:
            return [dict(contact) for contact in self._generate(n)]

    def touch(self, ids: list[str]) -> None:
        """Set updated_at of these contacts to now (and later than every other contact)."""
        with self._lock:
            missing = [cid for cid in ids if cid not in self._by_id]
            if missing:
                raise KeyError(f"unknown contact ids: {missing}")
            now = datetime.now(UTC).replace(microsecond=0)
            self._latest = max(now, self._latest + timedelta(seconds=1))
            stamp = _iso(self._latest)
            for cid in dict.fromkeys(ids):
                contact = self._by_id[cid]
                del self._keys[bisect_left(self._keys, (contact["updated_at"], cid))]
                contact["updated_at"] = stamp
                insort(self._keys, (stamp, cid))

    def _generate(self, n: int) -> list[dict[str, Any]]:
        rng = self._rng
        stamps: list[datetime] = []
        moment = self._latest
        for i in range(n):
            moment += timedelta(seconds=rng.choice(_STEPS) if i else rng.randint(1, 3))
            stamps.append(moment)
        if stamps:
            self._latest = stamps[-1]
        rng.shuffle(stamps)  # id order differs from updated_at order
        created: list[dict[str, Any]] = []
        new_keys: list[tuple[str, str]] = []
        for stamp in stamps:
            number = len(self.contacts) + 1
            first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
            company, domain = rng.choice(_COMPANIES)
            contact: dict[str, Any] = {
                "id": f"c_{number:04d}",
                "email": f"{first}.{last}.{number}@{domain}".lower(),
                "first_name": first,
                "last_name": last,
                "phone": f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
                "company": company,
                "updated_at": _iso(stamp),
                "created_at": _iso(stamp - timedelta(seconds=rng.randint(0, 90 * 86400))),
            }
            self.contacts.append(contact)
            self._by_id[contact["id"]] = contact
            new_keys.append((contact["updated_at"], contact["id"]))
            created.append(contact)
        self._keys.extend(sorted(new_keys))  # all later than every existing key
        return created

    # -- the handler ---------------------------------------------------------------------

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            self.requests_by_path[request.path] += 1
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or credentials != self.token:
            return _acme_error(401, "unauthorized", "invalid API token")
        limit_headers, allowed = self._rate_limit(self.token)
        if not allowed:
            reply = _acme_error(429, "rate_limited", "rate limit exceeded, retry later")
        else:
            try:
                reply = self._route(request)
            except _BadRequest as exc:
                reply = _acme_error(400, "invalid_request", str(exc))
        reply.headers.update(limit_headers)
        return reply

    def _rate_limit(self, token: str) -> tuple[dict[str, str], bool]:
        if self.rate_limit is None:
            return {}, True
        limit, window = self.rate_limit
        now = self.clock()
        with self._lock:
            start, used = self._windows.get(token, (now, 0))
            if now - start >= window:
                start, used = now, 0
            allowed = used < limit
            if allowed:
                used += 1
            self._windows[token] = (start, used)
        reset = str(max(1, math.ceil(start + window - now)))
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - used)),
            "X-RateLimit-Reset": reset,
        }
        if not allowed:
            headers["Retry-After"] = reset
        return headers, allowed

    def _route(self, request: Request) -> Reply:
        if request.path not in ("/v1/me", "/v1/contacts"):
            return _acme_error(404, "not_found", f"no route {request.path}")
        if request.method not in ("GET", "HEAD"):
            reply = _acme_error(405, "method_not_allowed", f"{request.method} not allowed")
            reply.headers["Allow"] = "GET, HEAD"
            return reply
        if request.path == "/v1/me":
            return Reply(json={"account": "acme-demo"})
        return self._list_contacts(request)

    def _list_contacts(self, request: Request) -> Reply:
        query = request.query
        paging = query.get("paging", "cursor")
        if paging not in _PAGING:
            raise _BadRequest(f"paging must be one of {', '.join(_PAGING)}")
        limit = _int_param(query, "limit", min(50, self.page_size_max), 1, self.page_size_max)
        since = _since_key(query["updated_since"]) if "updated_since" in query else None
        with self._lock:
            keys = self._keys
            low = bisect_left(keys, (since, "")) if since is not None else 0
            if paging == "offset":
                offset = _int_param(query, "offset", 0, 0, None)
                start = low + offset
                data = self._rows(keys[start : start + limit])
                return Reply(json={"data": data, "total": len(keys) - low})
            if paging == "page":
                page = _int_param(query, "page", 1, 1, None)
                pages = max(1, math.ceil((len(keys) - low) / limit))
                start = low + (page - 1) * limit
                data = self._rows(keys[start : start + limit])
                return Reply(json={"data": data, "page": page, "pages": pages})
            if "cursor" in query:
                low = max(low, bisect_right(keys, _decode_cursor(query["cursor"])))
            window = keys[low : low + limit + 1]  # one extra: is there a next page?
            data = self._rows(window[:limit])
        cursor = _encode_cursor(window[limit - 1]) if len(window) > limit else None
        if paging == "cursor":
            return Reply(json={"data": data, "meta": {"next_cursor": cursor}})
        next_url = None
        if cursor is not None:
            host = request.headers.get("host", "127.0.0.1")
            next_url = f"http://{host}{request.path}?{urlencode({**query, 'cursor': cursor})}"
        if paging == "next_url":
            return Reply(json={"data": data, "next": next_url})
        headers = {"Link": f'<{next_url}>; rel="next"'} if next_url else {}
        return Reply(json=data, headers=headers)

    def _rows(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        return [dict(self._by_id[cid]) for _, cid in keys]


def _acme_error(status: int, code: str, message: str) -> Reply:
    return Reply(status=status, json={"error": {"code": code, "message": message}})


def _int_param(query: dict[str, str], name: str, default: int, low: int, high: int | None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise _BadRequest(f"{name} must be {bounds}, got {value}")
    return value


def _since_key(raw: str) -> str:
    """``updated_since`` as the smallest whole-second timestamp string it includes."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise _BadRequest(f"updated_since must be an ISO 8601 timestamp, got {raw!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return _iso(moment)


def _encode_cursor(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(_json.dumps(list(key)).encode()).decode().rstrip("=")


def _decode_cursor(raw: str) -> tuple[str, str]:
    try:
        decoded = _json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        decoded = None
    match decoded:
        case [str(updated_at), str(cid)]:
            return updated_at, cid
        case _:
            raise _BadRequest("invalid cursor")
