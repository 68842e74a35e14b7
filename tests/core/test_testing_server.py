"""cintel.testing.server: the loopback HTTP server, its faults and the Acme CRM API, over
real sockets with httpx."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cintel.testing.server import AcmeApi, Faults, LoopbackServer, Reply, Request

TOKEN = "acme-secret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STYLES = ("cursor", "next_url", "link", "offset", "page")
BROKEN = (httpx.RemoteProtocolError, httpx.ReadError)  # what a dropped/truncated reply raises


def echo(request: Request) -> Reply:
    return Reply(
        json={
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "body": request.body.decode(),
        }
    )


@pytest.fixture
def echo_server() -> Iterator[LoopbackServer]:
    with LoopbackServer(echo) as server:
        yield server


@pytest.fixture
def api() -> AcmeApi:
    return AcmeApi()


@pytest.fixture
def acme(api: AcmeApi) -> Iterator[LoopbackServer]:
    with LoopbackServer(api) as server:
        yield server


@pytest.fixture
def client(acme: LoopbackServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=acme.base_url, headers=AUTH, timeout=10) as c:
        yield c


def ordered(api: AcmeApi) -> list[dict[str, Any]]:
    return sorted(api.contacts, key=lambda c: (c["updated_at"], c["id"]))


def read_all(client: httpx.Client, paging: str, limit: int, **params: Any) -> list[list[dict]]:
    """Every page of /v1/contacts in one pagination style, following the API's own signals."""
    pages: list[list[dict]] = []
    params = {"paging": paging, "limit": limit, **params}
    url: str | None = "/v1/contacts"
    for _ in range(1000):
        response = client.get(url, params=params if url == "/v1/contacts" else None)
        response.raise_for_status()
        body = response.json()
        if paging == "cursor":
            pages.append(body["data"])
            if body["meta"]["next_cursor"] is None:
                return pages
            params["cursor"] = body["meta"]["next_cursor"]
        elif paging == "next_url":
            pages.append(body["data"])
            url = body["next"]
            if url is None:
                return pages
        elif paging == "link":
            assert isinstance(body, list)
            pages.append(body)
            if "next" not in response.links:
                assert "link" not in response.headers
                return pages
            url = response.links["next"]["url"]
        elif paging == "offset":
            pages.append(body["data"])
            params["offset"] = params.get("offset", 0) + len(body["data"])
            if params["offset"] >= body["total"]:
                return pages
        else:
            pages.append(body["data"])
            if body["page"] >= body["pages"]:
                return pages
            params["page"] = body["page"] + 1
    raise AssertionError("pagination did not end")


# -- Acme data -------------------------------------------------------------------------------


def test_contacts_are_deterministic_with_ties_and_iso_timestamps() -> None:
    api = AcmeApi(seed=3)
    assert api.contacts == AcmeApi(seed=3).contacts
    assert api.contacts != AcmeApi(seed=4).contacts
    assert [c["id"] for c in api.contacts] == [f"c_{n:04d}" for n in range(1, 251)]
    assert len({c["email"] for c in api.contacts}) == 250
    iso = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    for contact in api.contacts:
        assert set(contact) == {
            "id",
            "email",
            "first_name",
            "last_name",
            "phone",
            "company",
            "updated_at",
            "created_at",
        }
        assert iso.fullmatch(contact["updated_at"])
        assert iso.fullmatch(contact["created_at"])
        assert contact["created_at"] <= contact["updated_at"]
    ties = Counter(c["updated_at"] for c in api.contacts)
    assert sum(1 for n in ties.values() if n > 1) >= 20  # many shared updated_at values
    # id order is not updated_at order: the API really has to sort
    assert api.contacts != ordered(api)


def test_add_contacts_and_touch_move_later_than_everything() -> None:
    api = AcmeApi(contacts=20)
    latest = max(c["updated_at"] for c in api.contacts)
    added = api.add_contacts(5)
    assert [c["id"] for c in added] == [f"c_{n:04d}" for n in range(21, 26)]
    assert all(c["updated_at"] > latest for c in added)
    assert len(api.contacts) == 25
    api.touch(["c_0003", "c_0007"])
    touched = {c["id"]: c["updated_at"] for c in api.contacts if c["id"] in ("c_0003", "c_0007")}
    assert len(set(touched.values())) == 1
    assert all(c["updated_at"] < touched["c_0003"] for c in api.contacts if c["id"] not in touched)
    assert all(c["updated_at"] > touched["c_0003"] for c in api.add_contacts(2))
    with pytest.raises(KeyError):
        api.touch(["c_9999"])


# -- Acme routes -----------------------------------------------------------------------------


def test_me_and_request_counter(api: AcmeApi, client: httpx.Client) -> None:
    assert client.get("/v1/me").json() == {"account": "acme-demo"}
    client.get("/v1/contacts")
    client.get("/v1/contacts")
    assert api.requests_by_path == Counter({"/v1/me": 1, "/v1/contacts": 2})


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["missing", "wrong-token", "wrong-scheme"],
)
def test_bad_token_is_401(acme: LoopbackServer, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=acme.base_url, headers=headers) as anonymous:
        for path in ("/v1/me", "/v1/contacts"):
            response = anonymous.get(path)
            assert response.status_code == 401
            assert response.json() == {
                "error": {"code": "unauthorized", "message": "invalid API token"}
            }


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 101},
        {"limit": 0},
        {"limit": "ten"},
        {"paging": "sideways"},
        {"cursor": "not-a-cursor"},
        {"updated_since": "yesterday"},
        {"paging": "offset", "offset": -1},
        {"paging": "page", "page": 0},
    ],
)
def test_bad_parameters_are_400(client: httpx.Client, params: dict[str, Any]) -> None:
    response = client.get("/v1/contacts", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_page_size_max_is_configurable() -> None:
    api = AcmeApi(contacts=30, page_size_max=10)
    with LoopbackServer(api) as server, httpx.Client(base_url=server.base_url) as c:
        c.headers.update(AUTH)
        assert len(c.get("/v1/contacts").json()["data"]) == 10  # default limit capped too
        assert c.get("/v1/contacts", params={"limit": 11}).status_code == 400


def test_unknown_route_and_method(client: httpx.Client) -> None:
    assert client.get("/v2/contacts").status_code == 404
    response = client.post("/v1/contacts", json={})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("paging", STYLES)
@pytest.mark.parametrize("limit", [40, 50, 100])
def test_every_pagination_style_returns_every_contact_once(
    api: AcmeApi, client: httpx.Client, paging: str, limit: int
) -> None:
    expected = ordered(api)
    pages = read_all(client, paging, limit)
    assert len(pages) == math.ceil(250 / limit)
    assert pages[0] == expected[:limit]
    middle = len(pages) // 2
    assert pages[middle] == expected[middle * limit : (middle + 1) * limit]
    assert pages[-1] == expected[(len(pages) - 1) * limit :]
    assert [c for page in pages for c in page] == expected


def test_default_paging_is_cursor_with_50_per_page(api: AcmeApi, client: httpx.Client) -> None:
    body = client.get("/v1/contacts").json()
    assert body["data"] == ordered(api)[:50]
    assert isinstance(body["meta"]["next_cursor"], str)


def test_offset_and_page_beyond_the_end_are_empty(client: httpx.Client) -> None:
    body = client.get("/v1/contacts", params={"paging": "page", "page": 9, "limit": 50}).json()
    assert body == {"data": [], "page": 9, "pages": 5}
    body = client.get("/v1/contacts", params={"paging": "offset", "offset": 300}).json()
    assert body == {"data": [], "total": 250}


@pytest.mark.parametrize("paging", STYLES)
def test_updated_since_is_inclusive(api: AcmeApi, client: httpx.Client, paging: str) -> None:
    expected = ordered(api)
    ties = Counter(c["updated_at"] for c in expected)
    # a shared timestamp in the middle: every contact at exactly that instant is included
    since = next(t for t in sorted(ties) if ties[t] >= 2 and t > expected[100]["updated_at"])
    wanted = [c for c in expected if c["updated_at"] >= since]
    assert wanted[0]["updated_at"] == wanted[1]["updated_at"] == since
    pages = read_all(client, paging, 30, updated_since=since)
    assert [c for page in pages for c in page] == wanted


def test_updated_since_accepts_offsets_and_fractions(api: AcmeApi, client: httpx.Client) -> None:
    expected = ordered(api)
    since = expected[120]["updated_at"]  # e.g. 2024-05-01T08:03:21Z
    hh, mm, rest = since[11:13], since[14:16], since[16:]
    shifted = f"{since[:11]}{int(hh) + 2:02d}:{mm}{rest[:-1]}+02:00"  # same instant
    after = f"{since[:-1]}.000001Z"  # a microsecond later: excludes `since` itself
    wanted = [c for c in expected if c["updated_at"] >= since]
    assert [c for p in read_all(client, "cursor", 100, updated_since=shifted) for c in p] == wanted
    later = [c for c in expected if c["updated_at"] > since]
    assert [c for p in read_all(client, "cursor", 100, updated_since=after) for c in p] == later


@pytest.mark.parametrize("paging", ["cursor", "next_url", "link"])
def test_keyset_paging_survives_writes_during_a_read(
    api: AcmeApi, client: httpx.Client, paging: str
) -> None:
    first = read_all(client, paging, 100)  # a whole read, to know the order
    read_ids = [c["id"] for c in first[0]]
    unread = first[1][10]["id"]
    # read page one, then write, then continue from the cursor / next link
    params = {"paging": paging, "limit": 100}
    response = client.get("/v1/contacts", params=params)
    body = response.json()
    assert [c["id"] for c in (body if paging == "link" else body["data"])] == read_ids
    added = api.add_contacts(30)
    api.touch([unread])
    seen = list(read_ids)
    for _ in range(100):
        if paging == "cursor":
            if body["meta"]["next_cursor"] is None:
                break
            response = client.get(
                "/v1/contacts", params={**params, "cursor": body["meta"]["next_cursor"]}
            )
        elif paging == "next_url":
            if body["next"] is None:
                break
            response = client.get(body["next"])
        else:
            if "next" not in response.links:
                break
            response = client.get(response.links["next"]["url"])
        body = response.json()
        seen += [c["id"] for c in (body if paging == "link" else body["data"])]
    assert len(seen) == len(set(seen)) == 280  # no duplicates, no gaps
    assert set(seen) == {c["id"] for c in api.contacts}
    assert seen[-1] == unread  # touched: now the most recent
    tail = sorted(added, key=lambda c: (c["updated_at"], c["id"]))
    assert seen[-31:-1] == [c["id"] for c in tail]


def test_rate_limit_with_headers_and_retry_after() -> None:
    api = AcmeApi(contacts=5, rate_limit=(3, 60.0))
    now = [1000.0]
    api.clock = lambda: now[0]
    with LoopbackServer(api) as server, httpx.Client(base_url=server.base_url, headers=AUTH) as c:
        remaining = []
        for _ in range(3):
            response = c.get("/v1/me")
            assert response.status_code == 200
            assert response.headers["X-RateLimit-Limit"] == "3"
            assert response.headers["X-RateLimit-Reset"] == "60"
            remaining.append(int(response.headers["X-RateLimit-Remaining"]))
        assert remaining == [2, 1, 0]
        now[0] += 20.5
        limited = c.get("/v1/contacts")
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limited"
        assert limited.headers["Retry-After"] == "40"  # ceil(39.5)
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        now[0] += 39.25
        assert c.get("/v1/me").headers["Retry-After"] == "1"  # ceil(0.25)
        now[0] += 0.25  # the window is over: a fresh one
        response = c.get("/v1/me")
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Remaining"] == "2"
        # unauthenticated requests are rejected before the limiter
        assert c.get("/v1/me", headers={"Authorization": "Bearer x"}).status_code == 401
        assert c.get("/v1/me").headers["X-RateLimit-Remaining"] == "1"


def test_rate_limit_on_the_real_clock() -> None:
    api = AcmeApi(contacts=5, rate_limit=(2, 30.0))
    with LoopbackServer(api) as server, httpx.Client(base_url=server.base_url, headers=AUTH) as c:
        assert [c.get("/v1/me").status_code for _ in range(3)] == [200, 200, 429]
        assert 1 <= int(c.get("/v1/me").headers["Retry-After"]) <= 30


# -- the server ------------------------------------------------------------------------------


def test_request_is_parsed_for_the_handler(echo_server: LoopbackServer) -> None:
    with httpx.Client(base_url=echo_server.base_url) as c:
        response = c.post(
            "/items/a%20b?x=1&x=2&empty=&y=%2B",
            json={"k": [1, 2]},
            headers={"X-Custom": "yes"},
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "method": "POST",
        "path": "/items/a b",
        "query": {"x": "2", "empty": "", "y": "+"},
        "body": '{"k":[1,2]}',
    }
    (request,) = echo_server.requests
    assert request.headers["x-custom"] == "yes"
    assert request.headers["host"] == echo_server.base_url.removeprefix("http://")
    assert all(name == name.lower() for name in request.headers)
    assert request.json() == {"k": [1, 2]}


def test_reply_rendering() -> None:
    replies = {
        "/raw": Reply(body=b"plain text", headers={"Content-Type": "text/plain"}),
        "/empty": Reply(status=204),
        "/created": Reply(status=201, json=[1], headers={"X-Id": "7"}),
    }
    with (
        LoopbackServer(lambda r: replies[r.path]) as server,
        httpx.Client(base_url=server.base_url) as c,
    ):
        raw = c.get("/raw")
        assert (raw.text, raw.headers["content-type"]) == ("plain text", "text/plain")
        empty = c.get("/empty")
        assert (empty.status_code, empty.content) == (204, b"")
        created = c.get("/created")
        assert (created.status_code, created.json(), created.headers["x-id"]) == (201, [1], "7")
        head = c.head("/created")
        assert (head.content, head.headers["content-length"]) == (b"", "3")
        assert c.get("/created").json() == [1]  # the connection survived the HEAD
        assert server.connections == 1


def test_handler_exception_becomes_500_and_is_recorded() -> None:
    def handler(request: Request) -> Reply:
        if request.path == "/boom":
            raise ValueError("kaboom")
        return Reply(json="fine")

    with LoopbackServer(handler) as server, httpx.Client(base_url=server.base_url) as c:
        response = c.get("/boom")
        assert response.status_code == 500
        assert response.json()["error"]["message"] == "ValueError: kaboom"
        assert c.get("/ok").json() == "fine"
    assert len(server.errors) == 1
    assert "GET /boom" in server.errors[0]
    assert "kaboom" in server.errors[0]


def test_keep_alive_reuses_one_connection(echo_server: LoopbackServer) -> None:
    with httpx.Client(base_url=echo_server.base_url) as c:
        for i in range(5):
            assert c.get(f"/n/{i}").status_code == 200
    assert echo_server.connections == 1
    assert len(echo_server.requests) == 5


def test_only_loopback_and_url_needs_start() -> None:
    with pytest.raises(ValueError, match="loopback"):
        LoopbackServer(echo, host="0.0.0.0")  # noqa: S104 (refused, the point of the test)
    server = LoopbackServer(echo)
    with pytest.raises(RuntimeError):
        _ = server.base_url
    with server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.base_url)
        assert server.port > 0


def test_stop_is_prompt_with_idle_keep_alive_connections() -> None:
    server = LoopbackServer(echo).start()
    with httpx.Client(base_url=server.base_url) as c:
        assert c.get("/").status_code == 200  # an idle keep-alive connection stays open
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2
        with pytest.raises(httpx.ConnectError):
            c.get("/")
    server.stop()  # idempotent


def test_faults_are_validated() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        Faults(rate_500=1.5)
    with pytest.raises(ValueError, match="sum"):
        Faults(rate_500=0.6, rate_429=0.6)
    with pytest.raises(ValueError):
        Faults(latency=-1)


# -- faults ----------------------------------------------------------------------------------


def fault_kinds(server: LoopbackServer) -> list[str]:
    return [kind for kind, _ in server.fault_log]


def test_429_then_success_on_the_third_attempt(echo_server: LoopbackServer) -> None:
    echo_server.faults = Faults(rate_429=1.0, retry_after=True, retry_after_seconds=1)
    with httpx.Client(base_url=echo_server.base_url) as c:
        responses = [c.get("/x?a=1") for _ in range(3)]
    assert [r.status_code for r in responses] == [429, 429, 200]
    assert [r.headers.get("retry-after") for r in responses[:2]] == ["1", "1"]
    assert responses[0].json()["error"]["code"] == "rate_limited"
    assert responses[2].json()["query"] == {"a": "1"}
    assert echo_server.fault_log == [("429", "GET /x?a=1"), ("429", "GET /x?a=1")]


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(True, ["0"] * 4), (False, [None] * 4), (None, ["0", None, "0", None])],
)
def test_retry_after_always_never_or_alternating(
    echo_server: LoopbackServer, retry_after: bool | None, expected: list[str | None]
) -> None:
    echo_server.faults = Faults(rate_429=1.0, retry_after=retry_after, max_consecutive=10)
    with httpx.Client(base_url=echo_server.base_url) as c:
        responses = [c.get("/") for _ in range(4)]
    assert [r.status_code for r in responses] == [429] * 4
    assert [r.headers.get("retry-after") for r in responses] == expected


def test_500_and_503_alternate_with_json_bodies(echo_server: LoopbackServer) -> None:
    echo_server.faults = Faults(rate_500=1.0, max_consecutive=2)
    with httpx.Client(base_url=echo_server.base_url) as c:
        responses = [c.get("/x") for _ in range(6)]
    assert [r.status_code for r in responses] == [500, 503, 200, 500, 503, 200]
    assert responses[1].json()["error"]["code"] == "server_error"
    assert fault_kinds(echo_server) == ["500", "503", "500", "503"]
    assert echo_server.connections == 1  # error statuses keep the connection alive


@pytest.mark.parametrize("kind", ["drop", "truncate"])
def test_drop_and_truncate_make_httpx_raise_then_third_attempt_succeeds(
    echo_server: LoopbackServer, kind: str
) -> None:
    echo_server.faults = Faults(**{f"rate_{kind}": 1.0}, max_consecutive=2)
    with httpx.Client(base_url=echo_server.base_url) as c:
        for _ in range(2):
            with pytest.raises(BROKEN):
                c.get("/data", params={"q": "1"})
        assert c.get("/data", params={"q": "1"}).json()["query"] == {"q": "1"}
    assert echo_server.fault_log == [(kind, "GET /data?q=1")] * 2
    assert echo_server.connections == 3  # each fault closed its connection


def raw_get(server: LoopbackServer, path: str) -> bytes:
    """Send one request on a plain socket and read until the server closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_truncate_sends_full_content_length_and_half_the_body(
    echo_server: LoopbackServer,
) -> None:
    full = raw_get(echo_server, "/t")
    echo_server.faults = Faults(rate_truncate=1.0)
    cut = raw_get(echo_server, "/t")
    head, _, body = cut.partition(b"\r\n\r\n")
    match = re.search(rb"Content-Length: (\d+)", head)
    assert match
    length = int(match.group(1))
    assert head.startswith(b"HTTP/1.1 200")
    assert length == len(full.partition(b"\r\n\r\n")[2]) > 0
    assert len(body) == length // 2
    assert fault_kinds(echo_server) == ["truncate"]


def test_drop_sends_nothing(echo_server: LoopbackServer) -> None:
    echo_server.faults = Faults(rate_drop=1.0)
    assert raw_get(echo_server, "/d") == b""
    assert fault_kinds(echo_server) == ["drop"]


def test_malformed_is_200_with_invalid_json(echo_server: LoopbackServer) -> None:
    echo_server.faults = Faults(rate_malformed=1.0)
    with httpx.Client(base_url=echo_server.base_url) as c:
        for _ in range(2):
            response = c.get("/m")
            assert response.status_code == 200
            with pytest.raises(json.JSONDecodeError):
                response.json()
        assert c.get("/m").json()["path"] == "/m"
    assert fault_kinds(echo_server) == ["malformed", "malformed"]


def test_max_consecutive_counts_per_request(echo_server: LoopbackServer) -> None:
    echo_server.faults = Faults(rate_500=1.0, max_consecutive=2)
    with httpx.Client(base_url=echo_server.base_url) as c:
        statuses = [
            c.request(method, url, content=body).status_code
            for method, url, body in [
                ("GET", "/a", b""),
                ("GET", "/b", b""),
                ("POST", "/a", b"1"),
                ("GET", "/a", b""),
                ("POST", "/a", b"2"),  # another body: another request
                ("GET", "/b", b""),
                ("GET", "/a", b""),  # third in a row for GET /a
                ("GET", "/a?x", b""),
            ]
        ]
    assert [s >= 500 for s in statuses] == [True] * 6 + [False, True]
    echo_server.faults = Faults(rate_500=1.0, max_consecutive=0)
    with httpx.Client(base_url=echo_server.base_url) as c:
        assert c.get("/a").status_code == 200


def test_faults_are_deterministic_per_seed_and_can_be_switched_off() -> None:
    faults = Faults(
        rate_429=0.15,
        rate_500=0.15,
        rate_drop=0.1,
        rate_truncate=0.1,
        rate_malformed=0.1,
        seed=42,
    )

    def run(faults: Faults) -> list[tuple[str, str]]:
        with LoopbackServer(echo, faults=faults) as server:
            with httpx.Client(base_url=server.base_url) as c:
                for i in range(80):
                    with contextlib.suppress(*BROKEN):
                        c.get(f"/r/{i}")
                server.faults = Faults()  # off while running
                assert all(c.get(f"/r/{i}").status_code == 200 for i in range(10))
            return list(server.fault_log)

    log = run(faults)
    assert log == run(faults)
    assert log != run(dataclasses.replace(faults, seed=43))
    kinds = Counter(kind for kind, _ in log)
    assert set(kinds) == {"429", "500", "503", "drop", "truncate", "malformed"}
    assert 30 <= sum(kinds.values()) <= 70  # about 60% of 80


def test_latency_delays_each_response(echo_server: LoopbackServer) -> None:
    echo_server.faults = Faults(latency=0.2)
    with httpx.Client(base_url=echo_server.base_url) as c:
        started = time.monotonic()
        assert c.get("/").status_code == 200
        assert time.monotonic() - started >= 0.2
        c.get("/")
    # one keep-alive connection, so one server thread: the requests cannot overlap
    assert echo_server.connections == 1
    assert echo_server.max_in_flight == 1


def test_max_in_flight_measures_concurrent_requests() -> None:
    workers = 6
    # every request waits in the handler until all of them are in: overlap is guaranteed
    barrier = threading.Barrier(workers, timeout=10)

    def handler(request: Request) -> Reply:
        barrier.wait()
        return Reply(json={"ok": True})

    with LoopbackServer(handler, faults=Faults(latency=0.05)) as server:
        statuses: list[int] = []

        def worker() -> None:
            with httpx.Client(base_url=server.base_url, timeout=20) as c:
                statuses.append(c.get("/").status_code)

        threads = [threading.Thread(target=worker) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    # stopped: every connection thread has finished
    assert statuses == [200] * workers
    assert server.max_in_flight == workers
    assert server.in_flight == 0
    assert server.errors == []
    server.reset_stats()
    assert (server.max_in_flight, server.requests, server.connections) == (0, [], 0)


def test_acme_behind_faults_is_read_completely_by_a_retrying_client(api: AcmeApi) -> None:
    faults = Faults(
        rate_429=0.1,
        rate_500=0.1,
        rate_drop=0.05,
        rate_truncate=0.05,
        rate_malformed=0.05,
        max_consecutive=2,
        seed=1,
    )

    def get(c: httpx.Client, params: dict[str, Any]) -> dict[str, Any]:
        for _ in range(3):  # max_consecutive + 1 attempts always suffice
            try:
                response = c.get("/v1/contacts", params=params)
                if response.status_code in (429, 500, 503):
                    continue
                response.raise_for_status()
                return response.json()  # type: ignore[no-any-return]
            except (httpx.TransportError, json.JSONDecodeError):
                continue
        raise AssertionError("three attempts were not enough")

    with LoopbackServer(api, faults=faults) as server:
        with httpx.Client(base_url=server.base_url, headers=AUTH, timeout=10) as c:
            params: dict[str, Any] = {"limit": 20}
            seen: list[dict[str, Any]] = []
            while True:
                body = get(c, params)
                seen += body["data"]
                if body["meta"]["next_cursor"] is None:
                    break
                params["cursor"] = body["meta"]["next_cursor"]
        assert seen == ordered(api)
        assert len(server.fault_log) >= 5
