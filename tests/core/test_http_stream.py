"""HttpStream over respx: paging into batches, incremental bounds, resume, query caps, slices."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from cintel import RecordBatch
from cintel.errors import HttpError, ResponseError, SourceError
from cintel.http import (
    CursorPaginator,
    HttpClient,
    HttpStream,
    OffsetPaginator,
    PageNumberPaginator,
    Paginator,
    SinglePage,
    date_slices,
    format_cursor,
    parse_datetime,
    render,
    shift_cursor,
)

BASE = "https://api.acme.test/v1"


def no_sleep(_: float) -> None:
    return None


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with HttpClient(base_url=BASE, sleep=no_sleep, source="acme") as c:
        yield c


def records_of(batches: list[RecordBatch]) -> list[dict[str, Any]]:
    return [r for b in batches for r in b.records]


def ids(batches: list[RecordBatch]) -> list[str]:
    return [str(r["id"]) for r in records_of(batches)]


# --------------------------------------------------------------------------- a cursor API
class ContactsApi:
    """GET /contacts?since=&cursor=&limit=: ascending by (updated_at, id), since inclusive."""

    def __init__(self, data: list[dict[str, Any]]) -> None:
        self.data = data

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        since = params.get("since")
        rows = sorted(
            (r for r in self.data if since is None or r["updated_at"] >= since),
            key=lambda r: (r["updated_at"], r["id"]),
        )
        start = int(params.get("cursor", "0"))
        limit = int(params["limit"])
        nxt = str(start + limit) if start + limit < len(rows) else None
        return httpx.Response(
            200, json={"data": rows[start : start + limit], "meta": {"next_cursor": nxt}}
        )


class Contacts(HttpStream):
    name = "contacts"
    path = "/contacts"
    record_path = "data"
    primary_key = ("id",)
    cursor_field = "updated_at"
    cursor_param = "since"
    params = {"limit": 2}  # noqa: RUF012

    def paginator(self) -> Paginator:
        return CursorPaginator(cursor_path="meta.next_cursor", param="cursor")


def contact(i: int, ts: str) -> dict[str, Any]:
    return {"id": f"c{i}", "updated_at": f"2024-05-01T{ts}Z", "email": f"u{i}@example.com"}


DATA = [
    contact(1, "08:00:00"),
    contact(2, "08:00:01"),
    contact(3, "08:00:02"),
    contact(4, "08:00:03"),
    contact(5, "08:00:03"),
]


@respx.mock
def test_pages_to_the_end_in_batches_with_state(client: HttpClient) -> None:
    route = respx.get(f"{BASE}/contacts").mock(side_effect=ContactsApi(DATA))
    stream = Contacts(client)
    stream.batch_size = 2
    batches = list(stream.read(None))
    assert ids(batches) == ["c1", "c2", "c3", "c4", "c5"]
    assert [len(b.records) for b in batches] == [2, 2, 1, 0]
    assert [call.request.url.params.get("cursor") for call in route.calls] == [None, "2", "4"]
    assert "since" not in route.calls[0].request.url.params  # first run: everything
    # mid-read checkpoints: where to resume, the old watermark and the pending one
    first = batches[0].state
    assert first is not None
    assert first["page"]["params"] == {"cursor": "2"}
    assert first["cursor"]["watermark"] is None
    assert first["cursor"]["pending"]["watermark"] == "2024-05-01T08:00:01Z"
    assert "page" not in (batches[2].state or {})
    # the read finished: the watermark is promoted, with the keys sitting on it
    assert batches[-1].state == {
        "cursor": {"watermark": "2024-05-01T08:00:03Z", "boundary": ["c4", "c5"]}
    }


@respx.mock
def test_small_pages_are_gathered_into_one_batch(client: HttpClient) -> None:
    respx.get(f"{BASE}/contacts").mock(side_effect=ContactsApi(DATA))
    batches = list(Contacts(client).read(None))  # batch_size 10,000
    assert [len(b.records) for b in batches] == [5, 0]


@respx.mock
def test_second_run_sends_inclusive_bound_and_drops_boundary_duplicates(
    client: HttpClient,
) -> None:
    api = ContactsApi(list(DATA))
    route = respx.get(f"{BASE}/contacts").mock(side_effect=api)
    first = list(Contacts(client).read(None))
    state = first[-1].state
    # meanwhile: a new record on the boundary value and two later ones
    api.data += [contact(6, "08:00:03"), contact(7, "08:00:04"), contact(8, "08:00:09")]
    calls_before = route.call_count
    second = list(Contacts(client).read(state))
    sent = route.calls[calls_before].request.url.params
    assert sent["since"] == "2024-05-01T08:00:03Z"  # inclusive: GTE the watermark
    # c4, c5 came back from the API and were dropped; c6 shares their value and is kept
    assert ids(second) == ["c6", "c7", "c8"]
    assert second[-1].state == {"cursor": {"watermark": "2024-05-01T08:00:09Z", "boundary": ["c8"]}}
    # a third run with nothing new reads only the boundary again and emits nothing
    third = list(Contacts(client).read(second[-1].state))
    assert ids(third) == []


@respx.mock
def test_resume_from_a_saved_state_continues_with_the_next_page(client: HttpClient) -> None:
    api = ContactsApi(list(DATA))
    route = respx.get(f"{BASE}/contacts").mock(side_effect=api)
    prior = {"cursor": {"watermark": "2024-05-01T07:00:00Z", "boundary": []}}
    stream = Contacts(client)
    stream.batch_size = 2
    reader = stream.read(prior)
    done = next(reader)  # the process dies after committing the first batch
    reader.close()
    assert done.state is not None
    saved = json.loads(json.dumps(done.state))  # as committed
    calls_before = route.call_count
    resumed = list(Contacts(client).read(saved))
    request = route.calls[calls_before].request.url.params
    assert request["cursor"] == "2"
    assert request["since"] == "2024-05-01T07:00:00Z"  # the bound of the interrupted read
    assert [r["id"] for r in done.records] + ids(resumed) == ["c1", "c2", "c3", "c4", "c5"]
    assert route.call_count == calls_before + 2
    assert resumed[-1].state is not None
    assert resumed[-1].state["cursor"]["watermark"] == "2024-05-01T08:00:03Z"


@respx.mock
def test_resume_an_offset_listing_keeps_counting_from_the_saved_offset(
    client: HttpClient,
) -> None:
    data = [{"idVisit": i} for i in range(7)]

    def matomo(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["filter_offset"])
        limit = int(request.url.params["filter_limit"])
        return httpx.Response(200, json=data[offset : offset + limit])

    route = respx.get(f"{BASE}/index.php").mock(side_effect=matomo)

    class Visits(HttpStream):
        name = "visits"
        path = "/index.php"
        primary_key = ("idVisit",)
        batch_size = 1

        def paginator(self) -> Paginator:
            return OffsetPaginator(
                limit=3, offset_param="filter_offset", limit_param="filter_limit"
            )

    reader = Visits(client).read(None)
    first = next(reader)
    reader.close()
    resumed = list(Visits(client).read(first.state))
    got = [r["idVisit"] for r in first.records] + [r["idVisit"] for b in resumed for r in b.records]
    assert got == list(range(7))
    offsets = [c.request.url.params["filter_offset"] for c in route.calls]
    assert offsets == ["0", "3", "6"]


@respx.mock
def test_paginator_sees_the_api_page_not_the_transformed_records(client: HttpClient) -> None:
    """Matomo ends on a short page: dropping records in transform() must not end it early."""
    data = [{"idVisit": i, "visitorType": "bot" if i % 3 == 0 else "new"} for i in range(7)]

    def matomo(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["filter_offset"])
        return httpx.Response(200, json=data[offset : offset + 3])

    respx.get(f"{BASE}/index.php").mock(side_effect=matomo)

    class HumanVisits(HttpStream):
        name = "visits"
        path = "/index.php"

        def paginator(self) -> Paginator:
            return OffsetPaginator(
                limit=3, offset_param="filter_offset", limit_param="filter_limit"
            )

        def transform(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [r for r in records if r["visitorType"] != "bot"]

    got = [r["idVisit"] for r in records_of(list(HumanVisits(client).read(None)))]
    assert got == [1, 2, 4, 5]


# --------------------------------------------------------------------------- HubSpot search cap
CAP = 5


def ms(ts: str) -> int:
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


class HubSpotSearch:
    """POST /crm/v3/objects/contacts/search with a 5-result cap per query (10,000 for real)."""

    def __init__(self, data: list[dict[str, Any]]) -> None:
        self.data = data
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        assert len(self.bodies) < 50, "the stream keeps querying"
        (flt,) = body["filterGroups"][0]["filters"]
        assert flt["propertyName"] == "lastmodifieddate"
        assert flt["operator"] == "GTE"
        since = int(flt["value"])
        rows = sorted(
            (r for r in self.data if ms(r["properties"]["lastmodifieddate"]) >= since),
            key=lambda r: (r["properties"]["lastmodifieddate"], int(r["id"])),
        )
        after = int(body.get("after", "0"))
        if after >= CAP:
            return httpx.Response(
                400,
                json={
                    "status": "error",
                    "message": "Cannot page past 10000 results.",
                    "category": "VALIDATION_ERROR",
                },
            )
        limit = body["limit"]
        page: dict[str, Any] = {
            "total": len(rows),
            "results": rows[after : min(after + limit, CAP)],
        }
        if after + limit < len(rows):
            page["paging"] = {"next": {"after": str(after + limit)}}
        return httpx.Response(200, json=page)


def hs_contact(i: int, ts: str) -> dict[str, Any]:
    modified = f"2024-05-01T{ts}.000Z"
    return {
        "id": str(i),
        "properties": {"hs_object_id": str(i), "lastmodifieddate": modified},
        "updatedAt": modified,
        "archived": False,
    }


class SearchContacts(HttpStream):
    name = "contacts"
    method = "POST"
    path = "/crm/v3/objects/contacts/search"
    record_path = "results"
    primary_key = ("id",)
    cursor_field = "lastmodifieddate"
    cursor_format = "epoch_ms"
    start = "2024-01-01T00:00:00.000Z"
    json_body = {  # noqa: RUF012
        "filterGroups": [
            {
                "filters": [
                    {
                        "propertyName": "lastmodifieddate",
                        "operator": "GTE",
                        "value": "{{ cursor }}",
                    }
                ]
            }
        ],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "limit": 2,
    }

    def paginator(self) -> Paginator:
        return CursorPaginator(
            cursor_path="paging.next.after", param="after", in_json=True, max_results=CAP
        )

    def transform(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"id": r["id"], **r["properties"]} for r in records]


# values shared across page and cap boundaries
SEARCH_DATA = [
    hs_contact(i, ts)
    for i, ts in enumerate(
        [
            "08:00:00",
            "08:00:01",
            "08:00:02",
            "08:00:03",
            "08:00:03",
            "08:00:03",
            "08:00:03",
            "08:00:04",
            "08:00:05",
            "08:00:06",
            "08:00:06",
            "08:00:07",
            "08:00:08",
            "08:00:09",
        ]
    )
]


@respx.mock
def test_capped_search_restarts_from_the_last_value_and_reads_everything_once(
    client: HttpClient,
) -> None:
    api = HubSpotSearch(SEARCH_DATA)
    respx.post(f"{BASE}/crm/v3/objects/contacts/search").mock(side_effect=api)
    batches = list(SearchContacts(client).read(None))
    assert ids(batches) == [str(i) for i in range(len(SEARCH_DATA))]
    # every query starts again without `after`, GTE the last value seen
    restarts = [
        int(b["filterGroups"][0]["filters"][0]["value"]) for b in api.bodies if "after" not in b
    ]
    assert restarts == [
        ms("2024-01-01T00:00:00.000Z"),
        ms("2024-05-01T08:00:03.000Z"),
        ms("2024-05-01T08:00:04.000Z"),
        ms("2024-05-01T08:00:07.000Z"),
    ]
    assert all(int(b.get("after", "0")) < CAP for b in api.bodies)
    assert batches[-1].state == {
        "cursor": {"watermark": "2024-05-01T08:00:09.000Z", "boundary": ["13"]}
    }


@respx.mock
def test_capped_search_resumed_mid_query_still_restarts_in_time(client: HttpClient) -> None:
    api = HubSpotSearch(SEARCH_DATA)
    respx.post(f"{BASE}/crm/v3/objects/contacts/search").mock(side_effect=api)
    stream = SearchContacts(client)
    stream.batch_size = 1
    reader = stream.read(None)
    done = [next(reader), next(reader)]  # pages after=0 and after=2
    reader.close()
    saved = json.loads(json.dumps(done[-1].state))
    assert saved["page"]["json"]["after"] == "4"
    rest = list(SearchContacts(client).read(saved))  # must not ask for after=6 (a 400)
    assert ids(done) + ids(rest) == [str(i) for i in range(len(SEARCH_DATA))]


@respx.mock
def test_more_records_on_one_value_than_the_cap_is_an_error_not_a_loop(
    client: HttpClient,
) -> None:
    api = HubSpotSearch([hs_contact(i, "08:00:00") for i in range(CAP + 2)])
    respx.post(f"{BASE}/crm/v3/objects/contacts/search").mock(side_effect=api)
    with pytest.raises(SourceError, match="share lastmodifieddate") as info:
        list(SearchContacts(client).read(None))
    assert info.value.stream == "contacts"


@respx.mock
def test_a_capped_query_without_cursor_field_is_an_error_not_a_silent_cut(
    client: HttpClient,
) -> None:
    api = HubSpotSearch(SEARCH_DATA)
    respx.post(f"{BASE}/crm/v3/objects/contacts/search").mock(side_effect=api)

    class NoCursor(SearchContacts):
        cursor_field = None

    with pytest.raises(SourceError, match="stops a query at 5 results"):
        list(NoCursor(client).read(None))


# --------------------------------------------------------------------------- lookback
@respx.mock
def test_lookback_moves_the_bound_back_and_rereads(client: HttpClient) -> None:
    api = ContactsApi(list(DATA))
    route = respx.get(f"{BASE}/contacts").mock(side_effect=api)

    class Settling(Contacts):
        lookback = 2.0

    state = {"cursor": {"watermark": "2024-05-01T08:00:03Z", "boundary": ["c4", "c5"]}}
    batches = list(Settling(client).read(state))
    since = parse_datetime(route.calls[0].request.url.params["since"])
    assert since == datetime(2024, 5, 1, 8, 0, 1, tzinfo=UTC)
    # the re-read window is loaded again (merge replaces it), boundary included
    assert ids(batches) == ["c2", "c3", "c4", "c5"]
    assert batches[-1].state == {
        "cursor": {"watermark": "2024-05-01T08:00:03Z", "boundary": ["c4", "c5"]}
    }


def test_shift_cursor_keeps_the_kind() -> None:
    assert shift_cursor(1_714_550_400, 60) == 1_714_550_340
    assert shift_cursor(1_714_550_400_000, 60) == 1_714_550_340_000
    assert shift_cursor("2024-05-01T08:00:00Z", 3600) == "2024-05-01T07:00:00+00:00"
    assert shift_cursor("2024-05-01T08:00:00Z", 0) == "2024-05-01T08:00:00Z"
    assert shift_cursor(None, 10) is None


# --------------------------------------------------------------------------- date slices
class ReportApi:
    def __init__(self) -> None:
        self.windows: list[tuple[str, str, int]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        start, end = request.url.params["startDate"], request.url.params["endDate"]
        page = int(request.url.params.get("page", "1"))
        self.windows.append((start, end, page))
        day = start.replace("-", "")
        rows = [{"id": f"{day}-{page}-{i}", "date": day} for i in range(2)]
        return httpx.Response(200, json={"rows": rows, "pages": 2})


class DailyReport(HttpStream):
    name = "report"
    path = "/report"
    record_path = "rows"
    primary_key = ("id",)
    cursor_field = "date"
    cursor_format = "date"
    start = "2024-05-01"
    slice_step = timedelta(days=1)
    params = {"startDate": "{{ slice.start }}", "endDate": "{{ slice.end }}"}  # noqa: RUF012

    def paginator(self) -> Paginator:
        return PageNumberPaginator(pages_path="pages")

    def now(self) -> datetime:
        return datetime(2024, 5, 4, tzinfo=UTC)


@respx.mock
def test_date_slices_walk_each_window(client: HttpClient) -> None:
    api = ReportApi()
    respx.get(f"{BASE}/report").mock(side_effect=api)
    batches = list(DailyReport(client).read(None))
    assert api.windows == [
        ("2024-05-01", "2024-05-02", 1),
        ("2024-05-01", "2024-05-02", 2),
        ("2024-05-02", "2024-05-03", 1),
        ("2024-05-02", "2024-05-03", 2),
        ("2024-05-03", "2024-05-04", 1),
        ("2024-05-03", "2024-05-04", 2),
    ]
    assert len(ids(batches)) == len(set(ids(batches))) == 12
    # each finished window moves the slice start on
    window_ends = [b.state["slice_start"] for b in batches if b.state and "slice_start" in b.state]
    assert window_ends[-1] == "2024-05-04T00:00:00+00:00"
    final = batches[-1].state
    assert final is not None
    assert final["cursor"]["watermark"] == "20240503"
    assert sorted(final["cursor"]["boundary"]) == [
        f"20240503-{p}-{i}" for p in (1, 2) for i in (0, 1)
    ]


@respx.mock
def test_date_slices_resume_mid_window(client: HttpClient) -> None:
    api = ReportApi()
    respx.get(f"{BASE}/report").mock(side_effect=api)
    stream = DailyReport(client)
    stream.batch_size = 1
    reader = stream.read(None)
    done = [next(reader) for _ in range(3)]  # day 1 both pages, day 2 page 1
    reader.close()
    saved = json.loads(json.dumps(done[-1].state))
    assert saved["slice_start"] == "2024-05-02T00:00:00+00:00"
    assert saved["page"]["params"] == {"page": 2}
    api.windows.clear()
    rest = list(DailyReport(client).read(saved))
    assert api.windows == [  # the saved page of the interrupted window, then the next one
        ("2024-05-02", "2024-05-03", 2),
        ("2024-05-03", "2024-05-04", 1),
        ("2024-05-03", "2024-05-04", 2),
    ]
    all_ids = ids(done) + ids(rest)
    assert len(all_ids) == len(set(all_ids)) == 12


@respx.mock
def test_date_slices_with_nothing_left_send_no_unbounded_query(client: HttpClient) -> None:
    route = respx.get(f"{BASE}/report").mock(side_effect=ReportApi())

    class UpToDate(DailyReport):
        def now(self) -> datetime:
            return datetime(2024, 5, 1, tzinfo=UTC)

    batches = list(UpToDate(client).read(None))
    assert route.call_count == 0
    assert records_of(batches) == []


def test_date_slices_helper() -> None:
    got = list(date_slices("2024-05-01", "2024-05-02T12:00:00Z", timedelta(days=1)))
    assert got == [
        (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC)),
        (datetime(2024, 5, 2, tzinfo=UTC), datetime(2024, 5, 2, 12, tzinfo=UTC)),
    ]
    with pytest.raises(ValueError, match="positive"):
        list(date_slices("2024-05-01", "2024-05-02", timedelta(0)))
    with pytest.raises(ValueError, match="two date-times"):
        list(date_slices("never", "2024-05-02", timedelta(days=1)))


def test_parse_and_format_cursor_values() -> None:
    may1 = datetime(2024, 5, 1, 8, 0, 3, 120000, tzinfo=UTC)
    assert parse_datetime("2024-05-01T08:00:03.120Z") == may1
    assert parse_datetime("2024-05-01T08:00:03.120+0000") == may1  # Salesforce
    assert parse_datetime(1714550403120) == may1
    assert parse_datetime("1714550403") == may1.replace(microsecond=0)
    assert parse_datetime("20240501") == datetime(2024, 5, 1, tzinfo=UTC)  # GA4 `date`
    assert parse_datetime("") is None
    assert parse_datetime("soon") is None
    assert format_cursor("2024-05-01T08:00:03.120Z", "epoch_ms") == "1714550403120"
    assert format_cursor("2024-05-01T08:00:03.120Z", "epoch_s") == 1714550403
    assert format_cursor("2024-05-01T08:00:03.120+0000", "iso_z") == "2024-05-01T08:00:03.120Z"
    assert format_cursor("2024-05-01T10:00:00+02:00", "iso") == "2024-05-01T08:00:00+00:00"
    assert format_cursor("20240501", "date") == "2024-05-01"
    assert format_cursor("x", "raw") == "x"
    with pytest.raises(ValueError, match="date-time"):
        format_cursor("soon", "iso")


# --------------------------------------------------------------------------- templates
def test_render_templates() -> None:
    ctx = {"cursor": "2024-05-01", "config": {"list_id": "601b55d9dc", "count": 100}}
    assert render("/lists/{{ config.list_id }}/members", ctx) == "/lists/601b55d9dc/members"
    assert render("{{ config.count }}", ctx) == 100  # one whole template keeps the type
    assert render({"since": "{{ cursor }}", "status": "{{ config.status }}"}, ctx) == {
        "since": "2024-05-01"
    }  # a missing value drops an optional filter
    assert render(["{{cursor}}", 1, {"a": "x{{ config.missing }}y"}], ctx) == [
        "2024-05-01",
        1,
        {"a": "xy"},
    ]


@respx.mock
def test_stream_renders_path_params_and_body_templates(client: HttpClient) -> None:
    route = respx.post(f"{BASE}/lists/601b55d9dc/members/search").mock(
        return_value=httpx.Response(200, json={"members": [{"id": "m1", "changed": "2024-05-02"}]})
    )

    class Members(HttpStream):
        name = "members"
        method = "POST"
        path = "/lists/{{ config.list_id }}/members/search"
        record_path = "members"
        primary_key = ("id",)
        cursor_field = "changed"
        params = {"status": "{{ config.status }}", "fields": "{{ config.fields }}"}  # noqa: RUF012
        json_body = {"since_last_changed": "{{ cursor }}", "list": "{{ config.list_id }}"}  # noqa: RUF012
        config_values = {"list_id": "601b55d9dc", "status": "subscribed"}  # noqa: RUF012

    state = {"cursor": {"watermark": "2024-05-01", "boundary": []}}
    batches = list(Members(client).read(state))
    request = route.calls.last.request
    assert dict(request.url.params) == {"status": "subscribed"}
    assert json.loads(request.content) == {
        "since_last_changed": "2024-05-01",
        "list": "601b55d9dc",
    }
    assert ids(batches) == ["m1"]

    list(Members(client).read(None))  # no cursor yet: the filter is left out
    assert json.loads(route.calls.last.request.content) == {"list": "601b55d9dc"}


# --------------------------------------------------------------------------- bad pages
@pytest.mark.parametrize("body", [{"data": {"id": 1}}, {"data": "nope"}, None])
@respx.mock
def test_a_record_path_that_is_not_a_list_is_a_response_error(
    client: HttpClient, body: Any
) -> None:
    respx.get(f"{BASE}/contacts").mock(
        return_value=httpx.Response(200, json=body) if body is not None else httpx.Response(200)
    )
    with pytest.raises(ResponseError) as info:
        list(Contacts(client).read(None))
    err = info.value
    assert "'data'" in str(err)
    assert err.stream == "contacts"
    assert err.source == "acme"
    assert err.status == 200


@respx.mock
def test_a_misspelt_record_path_is_a_response_error_not_an_empty_sync() -> None:
    """Without the check the page reads as empty and the sync ends with zero rows."""
    respx.get(f"{BASE}/contacts").mock(side_effect=ContactsApi(DATA))

    class Misspelt(Contacts):
        record_path = "dta"

    with (
        HttpClient(
            base_url=BASE, sleep=no_sleep, source="acme", params={"api_key": "sk-live-991"}
        ) as c,
        pytest.raises(ResponseError) as info,
    ):
        list(Misspelt(c).read(None))
    err = info.value
    assert err.stream == "contacts"
    assert err.source == "acme"
    assert err.status == 200
    assert "sk-live-991" not in err.url
    assert err.url.startswith(f"{BASE}/contacts?")
    text = str(err)
    assert "record path 'dta' is not in the response" in text
    assert "no 'dta' at the top level (keys present: data, meta)" in text
    assert "record_path" in text
    assert "sk-live-991" not in text


@respx.mock
def test_a_missing_nested_record_path_names_the_level_where_it_failed(client: HttpClient) -> None:
    respx.get(f"{BASE}/contacts").mock(
        return_value=httpx.Response(200, json={"response": {"records": [], "total": 0}})
    )

    class Nested(Contacts):
        record_path = "response.rows"

    with pytest.raises(ResponseError, match=r"no 'rows' under 'response' \(keys present: "):
        list(Nested(client).read(None))


@pytest.mark.parametrize("body", [{"data": [], "meta": {}}, {"data": None, "meta": {}}])
@respx.mock
def test_an_empty_or_null_record_list_is_an_empty_page(client: HttpClient, body: Any) -> None:
    respx.get(f"{BASE}/contacts").mock(return_value=httpx.Response(200, json=body))
    batches = list(Contacts(client).read(None))
    assert records_of(batches) == []


@respx.mock
def test_an_omitted_record_list_is_an_empty_page_when_the_api_omits_it(
    client: HttpClient,
) -> None:
    respx.get(f"{BASE}/contacts").mock(return_value=httpx.Response(200, json={"meta": {}}))
    with pytest.raises(ResponseError, match="record path 'data' is not in the response"):
        list(Contacts(client).read(None))

    class Report(Contacts):
        record_path_optional = True  # GA4 leaves out `rows` on an empty report

    assert records_of(list(Report(client).read(None))) == []


@respx.mock
def test_a_top_level_list_body_needs_no_record_path(client: HttpClient) -> None:
    respx.get(f"{BASE}/contacts").mock(return_value=httpx.Response(200, json=DATA[:2]))

    class Flat(Contacts):
        record_path = None

        def paginator(self) -> Paginator:
            return SinglePage()

    assert ids(list(Flat(client).read(None))) == ["c1", "c2"]


@respx.mock
def test_http_errors_carry_the_stream_name(client: HttpClient) -> None:
    respx.get(f"{BASE}/contacts").mock(return_value=httpx.Response(404, text="no such list"))
    with pytest.raises(HttpError, match=r"acme\.contacts: GET .* -> HTTP 404"):
        list(Contacts(client).read(None))
