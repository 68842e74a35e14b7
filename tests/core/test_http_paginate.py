"""Paginators against small fake vendor servers shaped as in reference/apis.md.

Each server computes its pages from a data set and the request it gets (cursor,
offset, page, token), and signals the end exactly as that vendor does, so a
paginator that asks for the wrong thing or misses the end fails here.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from cintel.http import (
    CursorPaginator,
    HttpClient,
    JsonResponse,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    Paginator,
    QueryCapReached,
    SinglePage,
    TokenPaginator,
    select,
    select_required,
)
from cintel.http.paginate import PathNotFound


def no_sleep(_: float) -> None:
    return None


def walk(
    client: HttpClient,
    paginator: Paginator,
    url: str,
    record_path: str | None,
    *,
    method: str = "GET",
    params: dict[str, Any] | None = None,
    json: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> list[Any]:
    """The loop from the paginate module's docstring."""
    out: list[Any] = []
    request: PageRequest | None = paginator.first()
    while request is not None:
        if request.url:
            page = client.request_json(method, request.url)
        else:
            kwargs: dict[str, Any] = {}
            if params or request.params:
                kwargs["params"] = {**(params or {}), **request.params}
            if json is not None or request.json:
                kwargs["json"] = {**(json or {}), **request.json}
            if data is not None:
                kwargs["data"] = data
            page = client.request_json(method, url, **kwargs)
        records = select(page.body, record_path, [])
        out.extend(records)
        request = paginator.next(page, records)
    return out


def rows(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"id": str(i), **extra} for i in range(1, n + 1)]


def b64(n: int) -> str:
    return base64.b64encode(f"{n}\n".encode()).decode()


def unb64(text: str) -> int:
    return int(base64.b64decode(text).decode())


# --------------------------------------------------------------------------- select
def test_select_paths() -> None:
    body = {"paging": {"next": {"after": "NTI1Cg=="}}, "items": [{"id": 1}, {"id": 2}]}
    assert select(body, "paging.next.after") == "NTI1Cg=="
    assert select(body, ["paging", "next", "after"]) == "NTI1Cg=="
    assert select(body, "items.0.id") == 1
    assert select(body, "items.-1.id") == 2
    assert select(body, "items.2.id") is None
    assert select(body, "items.x") is None
    assert select(body, "paging.prev.after", "none") == "none"
    assert select(body, "paging.next.after.deeper") is None
    assert select(body, None) is body
    assert select(body, "$") is body
    assert select(body, "") is body
    assert select({"done": False}, "done", True) is False  # a falsy value is not missing
    assert select([{"a": 1}], "0.a") == 1


def test_select_required_raises_on_a_missing_step_naming_what_is_there() -> None:
    body = {"results": [], "paging": {"next": None}, "items": [{"id": 1}]}
    assert select_required(body, "results") == []
    assert select_required(body, "paging.next") is None  # present as null: not missing
    assert select_required(body, "items.0.id") == 1
    assert select_required(body, None) is body
    assert select_required([1, 2], "$") == [1, 2]
    with pytest.raises(PathNotFound) as info:
        select_required(body, "result")
    err = info.value
    assert (err.path, err.part, err.where) == ("result", "result", "")
    assert str(err) == (
        "path 'result' not found: no 'result' at the top level "
        "(keys present: items, paging, results)"
    )
    with pytest.raises(PathNotFound, match=r"no 'cursor' under 'paging' \(keys present: next\)"):
        select_required(body, "paging.cursor")
    with pytest.raises(PathNotFound, match=r"no 'after' under 'paging.next' \(the body is empty\)"):
        select_required(body, "paging.next.after")
    with pytest.raises(PathNotFound, match=r"no '3' under 'items' \(a list of 1 items\)"):
        select_required(body, "items.3")
    with pytest.raises(PathNotFound, match=r"a list of 2 items"):
        select_required([1, 2], "data")
    many = {f"k{i:02d}": i for i in range(30)}
    with pytest.raises(PathNotFound, match=r"k19, … \(30 keys\)"):
        select_required(many, "data")


def test_page_request_state_round_trip() -> None:
    request = PageRequest(params={"after": "x"}, json={"after": "y"}, url=None)
    assert PageRequest.from_state(request.to_state()) == request
    assert PageRequest.from_state({"url": "https://x.test/?p=2"}).url == "https://x.test/?p=2"


# --------------------------------------------------------------------------- HubSpot
HUBSPOT = "https://api.hubapi.com/crm/v3/objects/contacts"


def hubspot_list(data: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params["limit"])
        start = unb64(request.url.params["after"]) if "after" in request.url.params else 0
        body: dict[str, Any] = {"results": data[start : start + limit]}
        if start + limit < len(data):
            after = b64(start + limit)
            body["paging"] = {"next": {"after": after, "link": f"?after={after}"}}
        return httpx.Response(200, json=body)  # the last page has no `paging`

    return handler


@respx.mock
def test_hubspot_cursor_pages_to_the_end() -> None:
    data = rows(5, archived=False)
    route = respx.get(HUBSPOT).mock(side_effect=hubspot_list(data))
    paginator = CursorPaginator(
        cursor_path="paging.next.after", param="after", limit_param="limit", limit=2
    )
    with HttpClient(sleep=no_sleep) as c:
        got = walk(c, paginator, HUBSPOT, "results", params={"archived": "false"})
    assert got == data
    sent = [dict(call.request.url.params) for call in route.calls]
    assert sent == [
        {"archived": "false", "limit": "2"},
        {"archived": "false", "limit": "2", "after": b64(2)},
        {"archived": "false", "limit": "2", "after": b64(4)},
    ]


@respx.mock
def test_hubspot_search_cursor_in_json_body() -> None:
    data = rows(3)

    def search(request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        start = int(payload.get("after", "0"))
        page: dict[str, Any] = {
            "total": len(data),
            "results": data[start : start + payload["limit"]],
        }
        if start + payload["limit"] < len(data):
            page["paging"] = {"next": {"after": str(start + payload["limit"])}}
        return httpx.Response(200, json=page)

    route = respx.post(f"{HUBSPOT}/search").mock(side_effect=search)
    paginator = CursorPaginator(
        cursor_path="paging.next.after", param="after", in_json=True, limit_param="limit", limit=2
    )
    with HttpClient(sleep=no_sleep) as c:
        got = walk(c, paginator, f"{HUBSPOT}/search", "results", method="POST", json={"sorts": []})
    assert got == data
    assert route.call_count == 2
    assert not route.calls.last.request.url.params
    assert b'"after":"2"' in route.calls.last.request.content


def test_cursor_paginator_stop_path_and_empty_cursor() -> None:
    paginator = CursorPaginator(cursor_path="meta.next", param="cursor", stop_path="meta.done")
    page = fake_page({"meta": {"next": "abc", "done": True}})
    assert paginator.next(page, [{}]) is None
    assert paginator.next(fake_page({"meta": {"next": ""}}), [{}]) is None
    assert paginator.next(fake_page({"meta": {"next": "abc", "done": False}}), [{}]) == (
        PageRequest(params={"cursor": "abc"})
    )


def fake_page(body: Any, **response_kwargs: Any) -> JsonResponse:
    request = httpx.Request("GET", response_kwargs.pop("url", "https://x.test/items"))
    return JsonResponse(httpx.Response(200, json=body, request=request, **response_kwargs), body)


# --------------------------------------------------------------------------- Klaviyo
KLAVIYO = "https://a.klaviyo.com/api/events"


def klaviyo(data: list[dict[str, Any]], size: int) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("page[cursor]")
        start = unb64(cursor) if cursor else 0
        chunk = data[start : start + size]
        nxt = None
        if start + size < len(data):
            q = httpx.QueryParams({"page[cursor]": b64(start + size)})
            nxt = f"https://a.klaviyo.com/api/events/?{q}"
        return httpx.Response(
            200,
            json={"data": chunk, "links": {"self": str(request.url), "next": nxt, "prev": None}},
            headers={
                "RateLimit-Limit": "3500",
                "RateLimit-Remaining": "3499",
                "RateLimit-Reset": "9",
            },
        )

    return handler


@respx.mock
def test_klaviyo_links_next_until_null() -> None:
    data = [{"type": "event", "id": f"ev{i}", "attributes": {}} for i in range(5)]
    route = respx.get(url__startswith=KLAVIYO).mock(side_effect=klaviyo(data, 2))
    with HttpClient(sleep=no_sleep) as c:
        got = walk(
            c, NextUrlPaginator(url_path="links.next"), KLAVIYO, "data",
            params={"filter": "greater-than(datetime,2024-05-01T00:00:00Z)", "sort": "datetime"},
        )  # fmt: skip
    assert got == data
    assert route.call_count == 3
    first, middle, last = (call.request.url for call in route.calls)
    assert first.params["sort"] == "datetime"
    assert "page[cursor]" not in first.params
    # the next link carries every parameter itself
    assert middle.params["page[cursor]"] == b64(2)
    assert last.params["page[cursor]"] == b64(4)


# --------------------------------------------------------------------------- Salesforce
SF = "https://acme.my.salesforce.com/services/data/v60.0"


def salesforce(data: list[dict[str, Any]], batch: int) -> Callable[[httpx.Request], httpx.Response]:
    locator = "01gRO0000016PIAYA2"

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/services/data/v60.0/query":
            assert "q" in request.url.params
            start = 0
        else:
            assert path.startswith(f"/services/data/v60.0/query/{locator}-"), path
            assert not request.url.params  # nextRecordsUrl has no other params
            start = int(path.rsplit("-", 1)[1])
        end = start + batch
        body: dict[str, Any] = {
            "totalSize": len(data),
            "done": end >= len(data),
            "records": data[start:end],
        }
        if end < len(data):
            body["nextRecordsUrl"] = f"/services/data/v60.0/query/{locator}-{end}"
        return httpx.Response(200, json=body, headers={"Sforce-Limit-Info": "api-usage=18/5000"})

    return handler


@respx.mock
def test_salesforce_next_records_url_relative_to_the_instance_until_done() -> None:
    data = [
        {"attributes": {"type": "Contact"}, "Id": f"003D{i:011d}", "Email": f"u{i}@example.com"}
        for i in range(5)
    ]
    route = respx.get(url__startswith=f"{SF}/query").mock(side_effect=salesforce(data, 2))
    paginator = NextUrlPaginator(url_path="nextRecordsUrl", stop_path="done")
    # the base URL includes /services/data/vXX.X, and so does nextRecordsUrl
    with HttpClient(base_url=SF, sleep=no_sleep) as c:
        got = walk(c, paginator, "/query", "records", params={"q": "SELECT Id FROM Contact"})
    assert got == data
    assert [call.request.url.path for call in route.calls] == [
        "/services/data/v60.0/query",
        "/services/data/v60.0/query/01gRO0000016PIAYA2-2",
        "/services/data/v60.0/query/01gRO0000016PIAYA2-4",
    ]


def test_next_url_stops_on_done_even_with_a_url() -> None:
    paginator = NextUrlPaginator(url_path="nextRecordsUrl", stop_path="done")
    assert paginator.next(fake_page({"done": True, "nextRecordsUrl": "/x"}), [{}]) is None
    relative = NextUrlPaginator(url_path="next")
    request = relative.next(
        fake_page({"next": "?page=2"}, url="https://x.test/api/items?page=1"), [{}]
    )
    assert request is not None
    assert request.url == "https://x.test/api/items?page=2"


# --------------------------------------------------------------------------- Link header
GITHUB = "https://api.github.test/repos/o/r/issues"


def github(data: list[dict[str, Any]], relative: bool) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        per = int(request.url.params["per_page"])
        page = int(request.url.params.get("page", "1"))
        last = math.ceil(len(data) / per)
        base = "/repos/o/r/issues" if relative else GITHUB

        def link(p: int, rel: str) -> str:
            return f'<{base}?per_page={per}&page={p}>; rel="{rel}"'

        links = []
        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        chunk = data[(page - 1) * per : page * per]
        return httpx.Response(200, json=chunk, headers={"Link": ", ".join(links)})

    return handler


@pytest.mark.parametrize("relative", [False, True])
@respx.mock
def test_link_header_rel_next_until_absent(relative: bool) -> None:
    data = [{"number": i} for i in range(7)]
    route = respx.get(GITHUB).mock(side_effect=github(data, relative))
    with HttpClient(sleep=no_sleep) as c:
        got = walk(c, LinkHeaderPaginator(), GITHUB, None, params={"per_page": 3})
    assert got == data
    assert [call.request.url.params.get("page") for call in route.calls] == [None, "2", "3"]
    # the last page still has prev/first links: only rel="next" counts
    assert 'rel="prev"' in route.calls.last.response.headers["Link"]


# --------------------------------------------------------------------------- Mailchimp
MAILCHIMP = "https://us6.api.mailchimp.com/3.0/lists/601b55d9dc/members"


def mailchimp(data: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        count = int(request.url.params.get("count", "10"))
        offset = int(request.url.params.get("offset", "0"))
        return httpx.Response(
            200,
            json={
                "members": data[offset : offset + count],
                "list_id": "601b55d9dc",
                "total_items": len(data),
                "_links": [],
            },
        )

    return handler


@pytest.mark.parametrize(("n", "calls"), [(5, 3), (4, 2), (0, 1)])
@respx.mock
def test_mailchimp_offset_until_total_items(n: int, calls: int) -> None:
    data = [{"id": f"m{i}", "email_address": f"u{i}@example.com"} for i in range(n)]
    route = respx.get(MAILCHIMP).mock(side_effect=mailchimp(data))
    paginator = OffsetPaginator(limit=2, limit_param="count", total_path="total_items")
    with HttpClient(sleep=no_sleep) as c:
        got = walk(c, paginator, MAILCHIMP, "members")
    assert got == data
    # with 4 members the second page is full, and total_items ends it without a third call
    assert route.call_count == calls
    offsets = [call.request.url.params["offset"] for call in route.calls]
    assert offsets == [str(2 * i) for i in range(calls)]


# --------------------------------------------------------------------------- GA4
GA4 = "https://analyticsdata.googleapis.com/v1beta/properties/123:runReport"


def ga4(n_rows: int) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["dateRanges"] == [{"startDate": "2024-05-01", "endDate": "2024-05-03"}]
        offset, limit = int(body.get("offset", 0)), int(body["limit"])
        page: dict[str, Any] = {
            "dimensionHeaders": [{"name": "date"}],
            "metricHeaders": [{"name": "sessions", "type": "TYPE_INTEGER"}],
            "kind": "analyticsData#runReport",
        }
        if n_rows:  # an empty report omits rows and rowCount
            page["rowCount"] = n_rows
            page["rows"] = [
                {"dimensionValues": [{"value": f"202405{i:02d}"}], "metricValues": [{"value": "7"}]}
                for i in range(offset, min(offset + limit, n_rows))
            ]
        return httpx.Response(200, json=page)

    return handler


@pytest.mark.parametrize(("n_rows", "calls"), [(5, 3), (4, 2), (0, 1)])
@respx.mock
def test_ga4_offset_until_row_count(n_rows: int, calls: int) -> None:
    route = respx.post(GA4).mock(side_effect=ga4(n_rows))
    paginator = OffsetPaginator(limit=2, total_path="rowCount", in_json=True)
    report = {"dateRanges": [{"startDate": "2024-05-01", "endDate": "2024-05-03"}]}
    with HttpClient(sleep=no_sleep) as c:
        got = walk(c, paginator, GA4, "rows", method="POST", json=report)
    assert [r["dimensionValues"][0]["value"] for r in got] == [
        f"202405{i:02d}" for i in range(n_rows)
    ]
    assert route.call_count == calls
    assert b'"offset":' in route.calls.last.request.content


def test_offset_missing_total_ends() -> None:
    paginator = OffsetPaginator(limit=2, total_path="rowCount")
    paginator.first()
    assert paginator.next(fake_page({"rows": [{}, {}]}), [{}, {}]) is None


# --------------------------------------------------------------------------- Matomo
MATOMO = "https://matomo.acme.test/index.php"


def matomo(data: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        assert b"token_auth=" in request.content  # never in the URL
        limit = int(request.url.params.get("filter_limit", "10"))
        offset = int(request.url.params.get("filter_offset", "0"))
        return httpx.Response(200, json=data[offset : offset + limit])  # no total

    return handler


@pytest.mark.parametrize(("n", "calls"), [(5, 3), (4, 3), (1, 1)])
@respx.mock
def test_matomo_short_page_ends(n: int, calls: int) -> None:
    data = [{"idVisit": i, "visitorId": f"{i:016x}"} for i in range(n)]
    route = respx.post(MATOMO).mock(side_effect=matomo(data))
    paginator = OffsetPaginator(limit=2, offset_param="filter_offset", limit_param="filter_limit")
    params = {"module": "API", "method": "Live.getLastVisitsDetails", "format": "JSON"}
    with HttpClient(sleep=no_sleep) as c:
        got = walk(
            c, paginator, MATOMO, None, method="POST", params=params,
            data={"token_auth": "matomo-token-1234"},
        )  # fmt: skip
    assert got == data
    assert route.call_count == calls  # 4 rows: a third, empty page is needed to know
    assert [c.request.url.params["filter_offset"] for c in route.calls] == [
        str(2 * i) for i in range(calls)
    ]


def test_offset_without_short_page_end_needs_an_empty_page() -> None:
    paginator = OffsetPaginator(limit=5, short_page_ends=False)
    paginator.first()
    request = paginator.next(fake_page([{}, {}]), [{}, {}])
    assert request == PageRequest(params={"offset": 2, "limit": 5})
    assert paginator.next(fake_page([]), []) is None


# --------------------------------------------------------------------------- Typeform
TYPEFORM = "https://api.typeform.com/forms/u6nXL7/responses"


def typeform(items: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    newest_first = sorted(items, key=lambda r: r["submitted_at"], reverse=True)

    def handler(request: httpx.Request) -> httpx.Response:
        size = int(request.url.params.get("page_size", "25"))
        before = request.url.params.get("before")
        start = 0
        if before:
            start = next(i for i, r in enumerate(newest_first) if r["token"] == before) + 1
        return httpx.Response(
            200,
            json={
                "total_items": len(items),
                "page_count": math.ceil(len(items) / size),
                "items": newest_first[start : start + size],
            },
        )

    return handler


@respx.mock
def test_typeform_before_token_until_empty_items() -> None:
    items = [
        {"token": f"tok{i}", "response_id": f"tok{i}", "submitted_at": f"2024-05-01T12:0{i}:10Z"}
        for i in range(4)
    ]
    route = respx.get(TYPEFORM).mock(side_effect=typeform(items))
    paginator = TokenPaginator(
        param="before", token_field="token", limit_param="page_size", limit=2
    )
    with HttpClient(sleep=no_sleep) as c:
        got = walk(c, paginator, TYPEFORM, "items")
    assert [r["token"] for r in got] == ["tok3", "tok2", "tok1", "tok0"]
    befores = [call.request.url.params.get("before") for call in route.calls]
    assert befores == [None, "tok2", "tok0"]  # the third page is empty: the end
    assert route.calls.last.response.json()["items"] == []


# --------------------------------------------------------------------------- SurveyMonkey
SM = "https://api.surveymonkey.com/v3/surveys/123456789/responses/bulk"


def surveymonkey(data: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        per = int(request.url.params.get("per_page", "50"))
        page = int(request.url.params.get("page", "1"))
        links = {"self": f"{SM}?page={page}&per_page={per}"}
        if page * per < len(data):
            links["next"] = f"{SM}?page={page + 1}&per_page={per}"
        if page > 1:
            links["prev"] = f"{SM}?page={page - 1}&per_page={per}"
        body = {
            "data": data[(page - 1) * per : page * per],
            "per_page": per,
            "page": page,
            "total": len(data),
            "links": links,
        }
        return httpx.Response(200, json=body)

    return handler


@pytest.mark.parametrize(("n", "calls"), [(5, 3), (4, 2), (0, 1)])
@respx.mock
def test_surveymonkey_page_numbers_until_no_next_link(n: int, calls: int) -> None:
    data = [{"id": str(5555555550 + i), "response_status": "completed"} for i in range(n)]
    route = respx.get(SM).mock(side_effect=surveymonkey(data))
    paginator = PageNumberPaginator(size_param="per_page", size=2, next_path="links.next")
    with HttpClient(sleep=no_sleep) as c:
        got = walk(c, paginator, SM, "data", params={"simple": "true"})
    assert got == data
    assert [call.request.url.params["page"] for call in route.calls] == [
        str(i) for i in range(1, calls + 1)
    ]


@respx.mock
def test_page_numbers_end_on_page_count_or_empty_page() -> None:
    data = rows(4)

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(200, json={"pages": 2, "items": data[(page - 1) * 2 : page * 2]})

    route = respx.get("https://x.test/items").mock(side_effect=handler)
    with HttpClient(sleep=no_sleep) as c:
        assert (
            walk(c, PageNumberPaginator(pages_path="pages"), "https://x.test/items", "items")
            == data
        )
        assert route.call_count == 2
        assert walk(c, PageNumberPaginator(), "https://x.test/items", "items") == data
        assert route.call_count == 2 + 3  # without a page count, an empty third page ends it


def test_page_numbers_short_page_end_and_start() -> None:
    paginator = PageNumberPaginator(start=0, size_param="n", size=3, short_page_ends=True)
    assert paginator.first() == PageRequest(params={"page": 0, "n": 3})
    assert paginator.next(fake_page({}), [{}] * 3) == PageRequest(params={"page": 1, "n": 3})
    assert paginator.next(fake_page({}), [{}] * 2) is None


def test_single_page() -> None:
    paginator = SinglePage()
    assert paginator.first() == PageRequest()
    assert paginator.next(fake_page({"next": "x"}), [{}]) is None


# --------------------------------------------------------------------------- query cap
@respx.mock
def test_query_cap_reached_before_paging_past_it() -> None:
    data = rows(10)
    route = respx.get(HUBSPOT).mock(side_effect=hubspot_list(data))
    paginator = CursorPaginator(
        cursor_path="paging.next.after", param="after", limit_param="limit", limit=2, max_results=4
    )
    with HttpClient(sleep=no_sleep) as c, pytest.raises(QueryCapReached) as info:
        walk(c, paginator, HUBSPOT, "results")
    assert info.value.fetched == 4
    assert route.call_count == 2
    assert "4" in str(info.value)


@respx.mock
def test_query_cap_not_raised_when_the_listing_ends_exactly_there() -> None:
    data = rows(4)
    respx.get(HUBSPOT).mock(side_effect=hubspot_list(data))
    paginator = CursorPaginator(
        cursor_path="paging.next.after", param="after", limit_param="limit", limit=2, max_results=4
    )
    with HttpClient(sleep=no_sleep) as c:
        assert walk(c, paginator, HUBSPOT, "results") == data
    # first() starts counting again
    paginator.first()
    assert paginator.fetched == 0
