"""Cassettes: record against a real local server with secrets everywhere, replay offline."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml
from cintel.testing.cassette import REDACTED, Cassette, CassetteError

# Every secret contains "SECRET", so one grep of the file bytes finds any of them.
CLIENT_SECRET = "client-SECRET-9a1b2c3d"
ACCESS_TOKEN = "access-SECRET-7f3a9c1e5b"
REFRESH_TOKEN = "refresh-SECRET-4d5e6f7a8b"
API_KEY = "key-SECRET-4b8d2e6f"
TENANT = "tenant-SECRET-5c6d"  # appears in URL paths and response bodies
SESSION = "sess-SECRET-0e1f2a3b"  # a cookie
PASSWORD = "pw-SECRET-hunter2"  # inside a JSON request body
ALL_SECRETS = (CLIENT_SECRET, ACCESS_TOKEN, REFRESH_TOKEN, API_KEY, TENANT, SESSION, PASSWORD)
BLOB = bytes(range(256)) * 4
PAGES = 3


@dataclass
class ApiState:
    hits: list[str] = field(default_factory=list)
    flaky_calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ApiHandler)
        self.state = ApiState()
        self.stopped = False

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent): replay provably has no network."""
        if not self.stopped:
            self.stopped = True
            self.shutdown()
            self.server_close()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ApiServer

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output quiet
        pass

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj, separators=(",", ":")).encode()
        self._send(status, body, "application/json", headers)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _authorized(self) -> bool:
        return self.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}"

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        body = self._body()
        with self.server.state.lock:
            self.server.state.hits.append(f"POST {self.path}")
        if url.path == "/oauth/token":
            form = parse_qs(body.decode())
            if form.get("client_secret") != [CLIENT_SECRET]:
                self._json(401, {"error": "invalid_client"})
                return
            token = {
                "access_token": ACCESS_TOKEN,
                "refresh_token": REFRESH_TOKEN,
                "token_type": "Bearer",
                "expires_in": 3600,
            }
            self._json(200, token, {"Set-Cookie": f"session={SESSION}; Path=/; HttpOnly"})
        elif url.path == "/search":
            self._json(200, {"received": json.loads(body), "ok": True})
        else:
            self._json(404, {"error": "not found"})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        with self.server.state.lock:
            self.server.state.hits.append(f"GET {self.path}")
        if url.path == f"/t/{TENANT}/items":
            if not self._authorized() or query.get("api_key") != [API_KEY]:
                self._json(401, {"error": "unauthorized"})
                return
            page = int(query.get("page", ["1"])[0])
            headers = {"X-Total-Count": str(PAGES * 2), "X-Api-Key": API_KEY}
            if page < PAGES:
                nxt = f"{self.server.base_url}/t/{TENANT}/items?page={page + 1}&api_key={API_KEY}"
                headers["Link"] = f'<{nxt}>; rel="next"'
            items = [{"id": page * 10 + i, "name": f"item {page}-{i}"} for i in range(2)]
            # A secret in free text: only replacing learned values everywhere catches it.
            note = f"authorized with {self.headers['Authorization']}"
            self._json(200, {"page": page, "tenant": TENANT, "note": note, "items": items}, headers)
        elif url.path == "/flaky":
            with self.server.state.lock:
                self.server.state.flaky_calls += 1
                calls = self.server.state.flaky_calls
            if calls == 1:
                self._json(429, {"error": "slow down"}, {"Retry-After": "0"})
            else:
                self._json(200, {"ok": True, "calls": calls})
        elif url.path == "/echo":
            pairs = sorted((k, v[0]) for k, v in query.items())
            self._json(200, {"query": pairs})
        elif url.path == "/blob":
            self._send(200, BLOB, "application/octet-stream")
        elif url.path == "/gzip":
            # Chunked and gzip-encoded; a cassette must store the decoded body.
            payload = gzip.compress(json.dumps({"compressed": True, "n": list(range(50))}).encode())
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n")
        else:
            self._json(404, {"error": "not found"})


@pytest.fixture
def server() -> Iterator[ApiServer]:
    srv = ApiServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01})
    thread.daemon = True
    thread.start()
    try:
        yield srv
    finally:
        srv.stop()
        thread.join()


class NoNetwork(httpx.BaseTransport):
    """An inner transport that fails the test if replay ever uses it."""

    closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"replay touched the network: {request.url}")

    def close(self) -> None:
        self.closed = True


class AsyncNoNetwork(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"replay touched the network: {request.url}")


Observation = tuple[int, dict[str, str], bytes]


def observe(response: httpx.Response) -> Observation:
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    return (response.status_code, headers, response.content)


def flow(client: httpx.Client, base: str) -> list[Observation]:
    """A connector-like session: OAuth token, paged stream via Link, a retry, a JSON search."""
    seen = []
    token = client.post(
        f"{base}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "cintel",
            "client_secret": CLIENT_SECRET,
        },
    )
    seen.append(observe(token))
    access = token.json()["access_token"]
    client.headers["Authorization"] = f"Bearer {access}"
    client.headers["Cookie"] = f"session={SESSION}"
    url: str | None = f"{base}/t/{TENANT}/items?page=1&api_key={API_KEY}"
    while url:
        page = client.get(url)
        seen.append(observe(page))
        url = page.links.get("next", {}).get("url")
    for _ in range(2):  # a retry: 429 then 200
        seen.append(observe(client.get(f"{base}/flaky")))
    search = client.post(f"{base}/search", json={"q": "ada", "password": PASSWORD, "n": 1})
    seen.append(observe(search))
    return seen


async def async_flow(client: httpx.AsyncClient, base: str) -> list[Observation]:
    seen = []
    token = await client.post(
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials", "client_secret": CLIENT_SECRET},
    )
    seen.append(observe(token))
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    url: str | None = f"{base}/t/{TENANT}/items?page=1&api_key={API_KEY}"
    while url:
        page = await client.get(url, headers=headers)
        seen.append(observe(page))
        url = page.links.get("next", {}).get("url")
    return seen


def redact_all(observations: list[Observation]) -> list[Any]:
    """Observations as JSON text with each real secret spelled as replay has it."""
    out = []
    for status, headers, body in observations:
        text = json.dumps([status, headers, body.decode("latin-1")])
        text = text.replace("%3CREDACTED%3E", REDACTED)  # how URLs spell it
        for secret in ALL_SECRETS:
            text = text.replace(secret, REDACTED)
        out.append(json.loads(text))
    return out


def assert_no_secrets(path: Path) -> None:
    data = path.read_bytes()
    assert b"SECRET" not in data
    for secret in ALL_SECRETS:
        assert secret.encode() not in data


def test_record_writes_no_secret_and_replay_is_identical_offline(
    server: ApiServer, tmp_path: Path
) -> None:
    path = tmp_path / "cassettes" / "session.yaml"
    recorder = Cassette(path, mode="record", secrets=[TENANT])
    assert recorder.recording
    with httpx.Client(transport=recorder.transport()) as client:
        recorded = flow(client, server.base_url)
    # The real API accepted the real credentials while recording.
    statuses = [status for status, _, _ in recorded]
    assert statuses == [200, 200, 200, 200, 429, 200, 200]
    assert json.loads(recorded[1][2])["tenant"] == TENANT
    assert "api_key=" in recorded[1][1]["link"]

    assert_no_secrets(path)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert doc["version"] == 1
    token_req, token_resp = doc["interactions"][0]["request"], doc["interactions"][0]["response"]
    assert "client_secret=%3CREDACTED%3E" in token_req["body"]
    assert "grant_type=client_credentials" in token_req["body"]
    assert json.loads(token_resp["body"]) == {
        "access_token": REDACTED,
        "refresh_token": REDACTED,
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    assert token_resp["headers"]["set-cookie"] == f"session={REDACTED}; Path=/; HttpOnly"
    first_page = doc["interactions"][1]
    assert first_page["request"]["headers"]["authorization"] == f"Bearer {REDACTED}"
    assert first_page["request"]["headers"]["cookie"] == f"session={REDACTED}"
    assert "/t/%3CREDACTED%3E/items" in first_page["request"]["url"]
    assert "api_key=%3CREDACTED%3E" in first_page["request"]["url"]
    assert "api_key=%3CREDACTED%3E" in first_page["response"]["headers"]["link"]
    assert first_page["response"]["headers"]["x-api-key"] == REDACTED
    assert json.loads(first_page["response"]["body"])["tenant"] == REDACTED
    search = doc["interactions"][-1]
    assert json.loads(search["request"]["body"])["password"] == REDACTED
    assert json.loads(search["response"]["body"])["received"]["password"] == REDACTED

    server.stop()
    player = Cassette(path, mode="replay", secrets=[TENANT])
    assert not player.recording
    inner = NoNetwork()
    with httpx.Client(transport=player.transport(inner)) as client:
        replayed = flow(client, server.base_url)
    assert inner.closed
    assert redact_all(replayed) == redact_all(recorded)
    # Bodies without secrets come back byte for byte (the file stores them pretty-printed).
    for (_, _, rec_body), (_, _, rep_body) in zip(recorded, replayed, strict=True):
        if b"SECRET" not in rec_body:
            assert rep_body == rec_body
    player.assert_all_played()


def test_async_client_records_and_replays(server: ApiServer, tmp_path: Path) -> None:
    path = tmp_path / "async.yaml"

    async def run(cassette: Cassette, inner: httpx.AsyncBaseTransport | None) -> list[Any]:
        async with httpx.AsyncClient(transport=cassette.async_transport(inner)) as client:
            return await async_flow(client, server.base_url)

    recorded = asyncio.run(run(Cassette(path, mode="record", secrets=[TENANT]), None))
    assert [s for s, _, _ in recorded] == [200, 200, 200, 200]
    assert_no_secrets(path)

    server.stop()
    player = Cassette(path, mode="replay", secrets=[TENANT])
    replayed = asyncio.run(run(player, AsyncNoNetwork()))
    assert redact_all(replayed) == redact_all(recorded)
    player.assert_all_played()


def test_repeated_requests_replay_in_recorded_order_then_repeat_the_last(
    server: ApiServer, tmp_path: Path
) -> None:
    path = tmp_path / "retry.yaml"
    with (
        Cassette(path, mode="record") as cassette,
        httpx.Client(transport=cassette.transport()) as client,
    ):
        assert [client.get(f"{server.base_url}/flaky").status_code for _ in range(2)] == [429, 200]
    server.stop()

    player = Cassette(path, mode="replay")
    with httpx.Client(transport=player.transport(), base_url=server.base_url) as client:
        first = client.get("/flaky")
        assert first.status_code == 429
        assert first.headers["retry-after"] == "0"
        with pytest.raises(CassetteError, match="never replayed"):
            player.assert_all_played()
        second = client.get("/flaky")
        assert (second.status_code, second.json()) == (200, {"ok": True, "calls": 2})
        player.assert_all_played()
        third = client.get("/flaky")
        assert (third.status_code, third.json()) == (200, {"ok": True, "calls": 2})


def test_unmatched_request_raises_naming_the_scrubbed_url(
    server: ApiServer, tmp_path: Path
) -> None:
    path = tmp_path / "pages.yaml"
    base = server.base_url
    headers = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
    with (
        Cassette(path, mode="record") as cassette,
        httpx.Client(transport=cassette.transport(), headers=headers) as client,
    ):
        for page in (1, 2):
            client.get(f"{base}/t/{TENANT}/items", params={"page": page, "api_key": API_KEY})
    server.stop()

    player = Cassette(path, mode="replay")
    with httpx.Client(transport=player.transport(), headers=headers) as client:
        with pytest.raises(CassetteError) as info:
            client.get(f"{base}/t/{TENANT}/items", params={"page": 99, "api_key": API_KEY})
        message = str(info.value)
        assert "no recorded interaction matches GET" in message
        assert "page=99" in message
        assert "api_key=%3CREDACTED%3E" in message
        assert str(path) in message
        assert "closest recorded requests" in message
        assert "page=1" in message
        assert "page=2" in message
        assert API_KEY not in message
        # A method mismatch is a miss too, and a hit still works afterwards.
        with pytest.raises(CassetteError, match="DELETE"):
            client.delete(f"{base}/t/{TENANT}/items", params={"page": 1, "api_key": API_KEY})
        ok = client.get(f"{base}/t/{TENANT}/items", params={"page": 2, "api_key": API_KEY})
        assert ok.json()["page"] == 2


def test_replay_without_a_cassette_file_raises(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(CassetteError, match="does not exist"):
        Cassette(missing, mode="replay")
    assert not missing.exists()


def test_once_records_when_missing_then_replays_without_the_server(
    server: ApiServer, tmp_path: Path
) -> None:
    path = tmp_path / "once.yaml"
    first = Cassette(path)  # mode="once" is the default
    assert first.recording
    with httpx.Client(transport=first.transport()) as client:
        assert client.get(f"{server.base_url}/echo?x=1").json() == {"query": [["x", "1"]]}
    assert path.exists()
    assert server.state.hits == ["GET /echo?x=1"]

    second = Cassette(path)
    assert not second.recording
    with httpx.Client(transport=second.transport(NoNetwork())) as client:
        assert client.get(f"{server.base_url}/echo?x=1").json() == {"query": [["x", "1"]]}
    assert server.state.hits == ["GET /echo?x=1"]


def test_record_mode_goes_to_the_network_and_rewrites(server: ApiServer, tmp_path: Path) -> None:
    path = tmp_path / "rewrite.yaml"
    for x in ("1", "2"):
        with (
            Cassette(path, mode="record") as cassette,
            httpx.Client(transport=cassette.transport()) as client,
        ):
            client.get(f"{server.base_url}/echo", params={"x": x})
    assert server.state.hits == ["GET /echo?x=1", "GET /echo?x=2"]
    urls = [i["request"]["url"] for i in yaml.safe_load(path.read_text())["interactions"]]
    assert urls == [f"{server.base_url}/echo?x=2"]


def test_query_parameter_order_does_not_matter(server: ApiServer, tmp_path: Path) -> None:
    path = tmp_path / "query.yaml"
    with (
        Cassette(path, mode="record") as cassette,
        httpx.Client(transport=cassette.transport()) as client,
    ):
        client.get(f"{server.base_url}/echo?a=1&b=2&c=x%20y")
    server.stop()

    with httpx.Client(transport=Cassette(path, mode="replay").transport()) as client:
        reordered = client.get(f"{server.base_url}/echo?c=x+y&b=2&a=1")
        assert reordered.json() == {"query": [["a", "1"], ["b", "2"], ["c", "x y"]]}
        with pytest.raises(CassetteError, match="b=3"):
            client.get(f"{server.base_url}/echo?c=x+y&b=3&a=1")


def test_json_body_matches_regardless_of_key_order(server: ApiServer, tmp_path: Path) -> None:
    path = tmp_path / "json.yaml"
    body = {"q": "ada", "filters": {"a": 1, "b": [1, 2]}, "password": PASSWORD}
    with (
        Cassette(path, mode="record") as cassette,
        httpx.Client(transport=cassette.transport()) as client,
    ):
        client.post(f"{server.base_url}/search", json=body)
    assert_no_secrets(path)
    server.stop()

    with httpx.Client(transport=Cassette(path, mode="replay").transport()) as client:
        reordered = '{"password": "other", "filters": {"b": [1, 2], "a": 1}, "q": "ada"}'
        response = client.post(
            f"{server.base_url}/search",
            content=reordered,
            headers={"Content-Type": "application/json"},
        )
        assert response.json()["received"]["filters"] == {"a": 1, "b": [1, 2]}
        with pytest.raises(CassetteError, match="no recorded interaction"):
            client.post(
                f"{server.base_url}/search", json={**body, "filters": {"a": 2, "b": [1, 2]}}
            )
        with pytest.raises(CassetteError):  # list order does matter
            client.post(
                f"{server.base_url}/search", json={**body, "filters": {"a": 1, "b": [2, 1]}}
            )


def test_binary_and_compressed_bodies_replay_as_real_responses(
    server: ApiServer, tmp_path: Path
) -> None:
    path = tmp_path / "bodies.yaml"
    with (
        Cassette(path, mode="record") as cassette,
        httpx.Client(transport=cassette.transport(), base_url=server.base_url) as client,
    ):
        live_gzip = client.get("/gzip")
        assert live_gzip.json()["compressed"] is True
        assert client.get("/blob").content == BLOB
    doc = yaml.safe_load(path.read_text())
    gz, blob = (i["response"] for i in doc["interactions"])
    assert "content-encoding" not in gz["headers"]
    assert "transfer-encoding" not in gz["headers"]
    assert json.loads(gz["body"])["n"] == list(range(50))
    assert blob["encoding"] == "base64"
    server.stop()

    player = Cassette(path, mode="replay")
    with httpx.Client(transport=player.transport(), base_url=server.base_url) as client:
        replayed = client.get("/gzip")
        assert replayed.json() == live_gzip.json()
        assert "content-encoding" not in replayed.headers
        assert replayed.headers["content-length"] == str(len(replayed.content))
        with client.stream("GET", "/blob") as streamed:
            assert streamed.headers["content-type"] == "application/octet-stream"
            assert b"".join(streamed.iter_bytes(chunk_size=100)) == BLOB


def test_worker_threads_record_and_replay_concurrently(server: ApiServer, tmp_path: Path) -> None:
    path = tmp_path / "threads.yaml"
    numbers = list(range(16))

    def fetch(client: httpx.Client, n: int) -> Any:
        return client.get(f"{server.base_url}/echo", params={"n": n}).json()

    with (
        Cassette(path, mode="record") as cassette,
        httpx.Client(transport=cassette.transport()) as client,
        ThreadPoolExecutor(8) as pool,
    ):
        recorded = list(pool.map(lambda n: fetch(client, n), numbers))
    assert len(cassette.interactions) == len(numbers)
    server.stop()

    player = Cassette(path, mode="replay")
    with httpx.Client(transport=player.transport()) as client, ThreadPoolExecutor(8) as pool:
        replayed = list(pool.map(lambda n: fetch(client, n), numbers))
    assert replayed == recorded == [{"query": [["n", str(n)]]} for n in numbers]
    player.assert_all_played()


def test_save_refuses_to_write_a_secret_it_could_not_scrub(tmp_path: Path) -> None:
    path = tmp_path / "leak.yaml"

    def handler(request: httpx.Request) -> httpx.Response:
        # Header names are not scrubbed; a secret in one must stop the file being written.
        return httpx.Response(200, headers={f"x-{secret}": "1"}, text="fine")

    secret = "tenant-4f9e2a7c"
    cassette = Cassette(path, mode="record", secrets=[secret])
    with httpx.Client(transport=cassette.transport(httpx.MockTransport(handler))) as client:
        assert client.get("https://api.example.test/x").text == "fine"
        with pytest.raises(CassetteError, match="refusing to write") as info:
            cassette.save()
        assert secret not in str(info.value)
        assert not path.exists()
        cassette.interactions.clear()  # so that closing the client can save
    assert secret.encode() not in path.read_bytes()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"a": 1, "b": [true, null], "c": "\\u00e9"}'),  # spaced, ascii
        ("application/json", b'{"a":1,"b":"\xc3\xa9"}\n'),  # compact, utf-8, trailing newline
        ("application/json", b'{\n    "a": 1.50,\n    "b": 2\n}'),  # a layout json can't redo
        ("application/json", b"not json at all"),
        ("text/csv", b"id,name \r\n1,ada  \r\n2,grace\r\n"),  # CRLF and trailing spaces
        ("text/plain; charset=latin-1", "Zoë".encode("latin-1")),  # not UTF-8: base64
        ("text/plain", "NEL\u0085 LS\u2028 PS\u2029 end\n".encode()),  # YAML line breaks
        ("application/x-www-form-urlencoded", b"a=1&b=x+y&c=%2F"),
        ("text/plain", b""),
    ],
)
def test_replayed_bodies_are_byte_exact(tmp_path: Path, content_type: str, body: bytes) -> None:
    path = tmp_path / "exact.yaml"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": content_type}, content=body)

    with (
        Cassette(path, mode="record") as cassette,
        httpx.Client(transport=cassette.transport(httpx.MockTransport(handler))) as client,
    ):
        sent = client.post(
            "https://api.example.test/x", content=body, headers={"Content-Type": content_type}
        )
        assert sent.content == body

    player = Cassette(path, mode="replay")
    with httpx.Client(transport=player.transport(NoNetwork())) as client:
        replayed = client.post(
            "https://api.example.test/x", content=body, headers={"Content-Type": content_type}
        )
        assert replayed.content == body
        assert replayed.headers["content-type"] == content_type


def test_head_keeps_content_length_and_url_credentials_are_scrubbed(tmp_path: Path) -> None:
    path = tmp_path / "head.yaml"
    password = "pass-SECRET-1234"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": "1234", "ETag": '"v1"'})

    with (
        Cassette(path, mode="record") as cassette,
        httpx.Client(transport=cassette.transport(httpx.MockTransport(handler))) as client,
    ):
        client.head(f"https://ada:{password}@api.example.test/file")
    assert b"SECRET" not in path.read_bytes()

    with httpx.Client(transport=Cassette(path, mode="replay").transport()) as client:
        head = client.head("https://ada:other-password@api.example.test/file")
        assert head.headers["content-length"] == "1234"
        assert head.headers["etag"] == '"v1"'
        assert head.content == b""
