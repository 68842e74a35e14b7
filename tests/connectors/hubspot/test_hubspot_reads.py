"""Reading HubSpot: list and search paging, the 10,000 cap, resumes, associations, owners."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from cintel.errors import SourceError
from cintel_hubspot import Associations
from cintel_hubspot.streams import iso_ms
from hubspot_fake import FakeHubSpot, epoch_ms, respx_side_effect, stamp
from hubspot_helpers import (
    BASE_URL,
    NOW,
    RATE_HEADERS,
    contact,
    last_state,
    make_connector,
    page,
    read,
    records,
    stream,
)

SETTLED = NOW - timedelta(seconds=60)


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in rows]


def bodies(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def serve(router: respx.MockRouter, fake: FakeHubSpot) -> respx.Route:
    return router.route().mock(side_effect=respx_side_effect(fake))


# ----------------------------------------------------------------------------- list
def test_list_reads_first_middle_and_last_page_and_sets_the_watermark() -> None:
    with respx.mock(base_url=BASE_URL) as router:
        route = router.get("/crm/v3/objects/contacts").mock(
            side_effect=[
                httpx.Response(
                    200,
                    json=page([contact(1, "2024-05-01T08:00:00Z")], after="NTI1Cg%3D%3D"),
                    headers=RATE_HEADERS,
                ),
                httpx.Response(
                    200, json=page([contact(2, "2024-05-01T08:00:03.120Z")], after="NTMwCg%3D%3D")
                ),
                httpx.Response(200, json=page([contact(3, "2024-04-01T00:00:00.5Z")])),
            ]
        )
        batches = read(stream(make_connector(page_size=1), "contacts"), batch_size=1)
    params = [call.request.url.params for call in route.calls]
    assert [p.get("after") for p in params] == [None, "NTI1Cg%3D%3D", "NTMwCg%3D%3D"]
    assert {p["limit"] for p in params} == {"1"}
    assert {p["archived"] for p in params} == {"false"}
    props = params[0]["properties"].split(",")
    assert {"email", "hs_additional_emails", "lastmodifieddate", "hs_object_id"} <= set(props)
    rows = records(batches)
    assert ids(rows) == ["1", "2", "3"]
    # one fixed-width form: text order is time order
    assert [r["updatedAt"] for r in rows] == [
        "2024-05-01T08:00:00.000Z",
        "2024-05-01T08:00:03.120Z",
        "2024-04-01T00:00:00.500Z",
    ]
    # mid-walk checkpoints resume on the next page; the end starts the search phase
    next_page = {"params": {"after": "NTI1Cg%3D%3D"}, "json": {}, "url": None}
    assert batches[0].state == {
        "phase": "list",
        "list_started": iso_ms(SETTLED),
        "inner": {"query_from": None, "page": next_page},
    }
    assert last_state(batches) == {"cursor": {"watermark": iso_ms(SETTLED), "boundary": []}}


def test_list_of_a_full_refresh_stream_keeps_no_watermark() -> None:
    with respx.mock(base_url=BASE_URL) as router:
        router.get("/crm/v3/objects/companies").mock(
            return_value=httpx.Response(200, json=page([{"id": "7", "properties": {}}]))
        )
        connector = make_connector(companies={"incremental": False})
        companies = stream(connector, "companies")
        assert companies.cursor_field is None
        first = read(companies)
        again = read(companies, last_state(first))
    assert last_state(first) == {}
    assert ids(records(again)) == ["7"]


# ----------------------------------------------------------------------------- search
def test_search_reads_first_middle_and_last_page_from_the_watermark() -> None:
    state = {"cursor": {"watermark": "2024-05-01T08:00:00.000Z", "boundary": ["1"]}}
    with respx.mock(base_url=BASE_URL) as router:
        route = router.post("/crm/v3/objects/contacts/search").mock(
            side_effect=[
                httpx.Response(
                    200,
                    json=page(
                        [contact(1, "2024-05-01T08:00:00Z"), contact(2, "2024-05-01T08:00:01Z")],
                        after="2",
                        total=5,
                    ),
                ),
                httpx.Response(
                    200,
                    json=page(
                        [contact(3, "2024-05-01T08:00:02Z"), contact(4, "2024-05-01T08:00:09Z")],
                        after="4",
                        total=5,
                    ),
                ),
                httpx.Response(200, json=page([contact(5, "2024-05-01T08:00:09.500Z")], total=5)),
            ]
        )
        batches = read(stream(make_connector(search_page_size=2), "contacts"), state)
    sent = bodies(route)
    assert [b.get("after") for b in sent] == [None, "2", "4"]
    first = sent[0]
    assert first["filterGroups"] == [
        {
            "filters": [
                {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "1714550400000"},
                {
                    "propertyName": "lastmodifieddate",
                    "operator": "LT",
                    "value": str(int(SETTLED.timestamp() * 1000)),
                },
            ]
        }
    ]
    assert first["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    assert first["limit"] == 2
    assert "email" in first["properties"]
    # contact 1 sits on the watermark and was loaded last time: dropped by id
    assert ids(records(batches)) == ["2", "3", "4", "5"]
    assert last_state(batches) == {
        "cursor": {"watermark": "2024-05-01T08:00:09.500Z", "boundary": ["5"]}
    }


def test_deals_and_companies_search_on_hs_lastmodifieddate() -> None:
    state = {"cursor": {"watermark": "2024-05-01T08:00:00.000Z", "boundary": []}}
    with respx.mock(base_url=BASE_URL) as router:
        route = router.post("/crm/v3/objects/deals/search").mock(
            return_value=httpx.Response(200, json=page([], total=0))
        )
        read(stream(make_connector(), "deals"), state)
    body = bodies(route)[0]
    assert {f["propertyName"] for f in body["filterGroups"][0]["filters"]} == {
        "hs_lastmodifieddate"
    }
    assert body["sorts"][0]["propertyName"] == "hs_lastmodifieddate"


def test_start_date_makes_the_first_run_a_search_from_it() -> None:
    with respx.mock(base_url=BASE_URL) as router:
        route = router.post("/crm/v3/objects/contacts/search").mock(
            return_value=httpx.Response(200, json=page([contact(1, "2024-05-02T00:00:00Z")]))
        )
        batches = read(stream(make_connector(start_date="2024-05-01T00:00:00Z"), "contacts"))
    assert bodies(route)[0]["filterGroups"][0]["filters"][0]["value"] == "1714521600000"
    assert ids(records(batches)) == ["1"]


def set_modified(fake: FakeHubSpot, kind: str, moments: list[datetime]) -> list[str]:
    """Give the fake's records of ``kind`` these modification times, in id order."""
    rows = fake.records(kind)
    assert len(rows) == len(moments)
    for row, moment in zip(rows, moments, strict=True):
        row["properties"]["lastmodifieddate"] = stamp(moment)
        row["updatedAt"] = stamp(moment)
    return [r["id"] for r in rows]


def test_search_restarts_before_the_cap_from_the_last_value_and_dedups() -> None:
    fake = FakeHubSpot(contacts=23, companies=0, deals=0, owners=0, search_cap=10)
    base = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    # ties across the cap: positions 8-11 share one value, 17-18 another
    offsets = [0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8, 9, 10, 11, 12, 13, 13, 14, 15, 16, 17, 18]
    all_ids = set_modified(fake, "contacts", [base + timedelta(seconds=s) for s in offsets])
    state = {"cursor": {"watermark": "2024-01-01T00:00:00.000Z", "boundary": []}}
    with respx.mock(base_url=BASE_URL) as router:
        route = serve(router, fake)
        connector = make_connector(search_page_size=5, search_max_results=10)
        batches = read(stream(connector, "contacts"), state, batch_size=3)
    got = ids(records(batches))
    assert sorted(got, key=int) == all_ids  # every record, once
    assert len(got) == len(set(got))
    statuses = [call.response.status_code for call in route.calls]
    assert 400 not in statuses  # never asked past the cap
    searches = [json.loads(c.request.content) for c in route.calls if c.request.method == "POST"]
    restarts = [b for b in searches[1:] if "after" not in b]
    assert restarts, "the query was never restarted"
    tie = str(epoch_ms(stamp(base + timedelta(seconds=8))))
    assert restarts[0]["filterGroups"][0]["filters"][0]["value"] == tie
    assert last_state(batches) == {
        "cursor": {"watermark": iso_ms(base + timedelta(seconds=18)), "boundary": [all_ids[-1]]}
    }


def test_the_fake_answers_400_past_its_cap_so_the_restart_is_needed() -> None:
    fake = FakeHubSpot(contacts=12, companies=0, deals=0, owners=0, search_cap=10)
    state = {"cursor": {"watermark": "2024-01-01T00:00:00.000Z", "boundary": []}}
    with respx.mock(base_url=BASE_URL) as router:
        serve(router, fake)
        connector = make_connector(search_page_size=5)  # the real cap, 10,000: too high here
        with pytest.raises(SourceError, match=r"HTTP 400.*paging past 10 results"):
            read(stream(connector, "contacts"), state)


def test_more_records_on_one_value_than_the_cap_is_a_clear_error() -> None:
    fake = FakeHubSpot(contacts=6, companies=0, deals=0, owners=0, search_cap=4)
    set_modified(fake, "contacts", [datetime(2024, 5, 1, 8, tzinfo=UTC)] * 6)
    state = {"cursor": {"watermark": "2024-01-01T00:00:00.000Z", "boundary": []}}
    with respx.mock(base_url=BASE_URL) as router:
        serve(router, fake)
        connector = make_connector(search_page_size=2, search_max_results=4)
        with pytest.raises(SourceError, match="more than 4 records share updatedAt"):
            read(stream(connector, "contacts"), state)


def test_search_steps_back_when_records_leave_the_result_set_during_the_read() -> None:
    fake = FakeHubSpot(contacts=9, companies=0, deals=0, owners=0)
    all_ids = [r["id"] for r in fake.records("contacts")]
    connector = make_connector(now=fake.clock, search_page_size=3)
    state = {"cursor": {"watermark": "2024-01-01T00:00:00.000Z", "boundary": []}}
    serve_fake = respx_side_effect(fake)
    searches = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal searches
        response = serve_fake(request)
        if request.url.path.endswith("/search"):
            searches += 1
            if searches == 1:  # someone edits the second contact while we read
                fake.touch("contacts", [all_ids[1]], advance=False)
        return response

    with respx.mock(base_url=BASE_URL) as router:
        route = router.route().mock(side_effect=handler)
        batches = read(stream(connector, "contacts"), state)
        sent = [json.loads(c.request.content) for c in route.calls]
        # the edited record is newer than this read's bound: the next run reads it
        again = read(stream(connector, "contacts"), last_state(batches))
        fake.now += timedelta(minutes=5)
        later = read(stream(connector, "contacts"), last_state(batches))
    # the second page says total went from 9 to 8: it is read again from one place earlier
    assert [b.get("after") for b in sent] == [None, "3", "2", "5"]
    got = ids(records(batches))
    assert set(got) == set(all_ids)  # the shift would have skipped all_ids[3]
    assert got.index(all_ids[3]) > got.index(all_ids[4])  # found by stepping back
    assert records(again) == []
    assert ids(records(later)) == [all_ids[1]]


def test_a_shift_seen_on_the_last_page_still_steps_back() -> None:
    fake = FakeHubSpot(contacts=6, companies=0, deals=0, owners=0)
    all_ids = [r["id"] for r in fake.records("contacts")]
    serve_fake = respx_side_effect(fake)
    touched = False

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal touched
        response = serve_fake(request)
        if not touched:  # an edit right after the first page
            touched = True
            fake.touch("contacts", [all_ids[1]], advance=False)
        return response

    state = {"cursor": {"watermark": "2024-01-01T00:00:00.000Z", "boundary": []}}
    with respx.mock(base_url=BASE_URL) as router:
        route = router.route().mock(side_effect=handler)
        connector = make_connector(now=fake.clock, search_page_size=3)
        got = ids(records(read(stream(connector, "contacts"), state)))
    # page two (after 3) is HubSpot's last, but total fell from 6 to 5: read again from 2
    assert [json.loads(c.request.content).get("after") for c in route.calls] == [None, "3", "2"]
    assert set(got) == set(all_ids)


# ----------------------------------------------------------------------------- resume
def test_a_killed_list_read_resumes_on_the_next_page() -> None:
    fake = FakeHubSpot(contacts=20, companies=0, deals=0, owners=0)
    with respx.mock(base_url=BASE_URL) as router:
        route = serve(router, fake)
        contacts = stream(make_connector(page_size=5), "contacts")
        contacts.batch_size = 5
        reader = contacts.read(None)
        first = [next(reader), next(reader)]  # two batches committed, then the process dies
        reader.close()
        calls_before = route.call_count
        resumed = read(
            stream(make_connector(page_size=5), "contacts"), first[-1].state, batch_size=5
        )
    got = ids(records(first)) + ids(records(resumed))
    assert got == [r["id"] for r in fake.records("contacts")]  # nothing lost, nothing twice
    assert route.call_count - calls_before == 2  # pages 3 and 4 only
    assert first[-1].state is not None
    assert first[-1].state["phase"] == "list"


def test_a_killed_search_resumes_with_its_bound_and_page() -> None:
    fake = FakeHubSpot(contacts=5, companies=0, deals=0, owners=0)
    with respx.mock(base_url=BASE_URL) as router:
        route = serve(router, fake)
        done = last_state(read(stream(make_connector(now=fake.clock), "contacts")))
        new = fake.add("contacts", 12)
        contacts = stream(make_connector(now=fake.clock, search_page_size=4), "contacts")
        contacts.batch_size = 4
        reader = contacts.read(done)
        first = next(reader)
        reader.close()
        state = first.state
        assert state is not None
        assert state["phase"] == "search"
        fake.now += timedelta(hours=1)  # the resumed run happens later: same bound
        later = make_connector(now=fake.clock, search_page_size=4)
        resumed = read(stream(later, "contacts"), state, batch_size=4)
    searches = [json.loads(c.request.content) for c in route.calls if c.request.method == "POST"]
    assert {b["filterGroups"][0]["filters"][1]["value"] for b in searches} == {
        searches[0]["filterGroups"][0]["filters"][1]["value"]
    }
    assert [b.get("after") for b in searches] == [None, "4", "8"]  # resumed mid-query
    assert ids(records([first])) + ids(records(resumed)) == new
    assert "phase" not in (last_state(resumed) or {})


def test_incremental_runs_read_only_changes_then_nothing() -> None:
    fake = FakeHubSpot(contacts=8, companies=0, deals=0, owners=0)
    with respx.mock(base_url=BASE_URL) as router:
        serve(router, fake)
        connector = make_connector(now=fake.clock)
        first = read(stream(connector, "contacts"))
        second = read(stream(connector, "contacts"), last_state(first))
        changed = [fake.records("contacts")[2]["id"]]
        fake.touch("contacts", changed)
        new = fake.add("contacts", 2)
        third = read(stream(connector, "contacts"), last_state(second))
        fourth = read(stream(connector, "contacts"), last_state(third))
    assert len(records(first)) == 8
    assert records(second) == []
    assert ids(records(third)) == changed + new
    assert records(fourth) == []


# ----------------------------------------------------------------------------- associations
def test_associations_are_read_in_batches_with_paging_per_record() -> None:
    fake = FakeHubSpot(contacts=10, companies=3, deals=4, owners=0, association_page=2)
    deal = fake.records("deals")[0]["id"]
    for cid in [r["id"] for r in fake.records("contacts")][:5]:
        fake.links[("deals", "contacts")].setdefault(deal, []).append(cid)
    with respx.mock(base_url=BASE_URL) as router:
        route = serve(router, fake)
        connector = make_connector(deals={"associations": ["contacts", "companies"]})
        rows = records(read(stream(connector, "deals")))
    for row in rows:
        expected = sorted(set(fake.links[("deals", "contacts")].get(row["id"], [])), key=int)
        assert row["associations"]["contacts"] == expected
        companies = sorted(set(fake.links[("deals", "companies")].get(row["id"], [])), key=int)
        assert row["associations"]["companies"] == companies
    posts = [
        json.loads(c.request.content)
        for c in route.calls
        if c.request.url.path == "/crm/v4/associations/deals/contacts/batch/read"
    ]
    assert len(posts[0]["inputs"]) == 4  # the whole batch in one request
    assert {"id": deal, "after": "2"} in posts[1]["inputs"]  # more for one deal only
    assert len(posts) == 3


def test_associations_of_many_records_go_1000_a_request() -> None:
    fake = FakeHubSpot(contacts=1005, companies=4, deals=0, owners=0)
    with respx.mock(base_url=BASE_URL) as router:
        route = serve(router, fake)
        client = make_connector().client
        ids_ = [r["id"] for r in fake.records("contacts")]
        found = Associations(client).read("contacts", "companies", ids_, stream="contacts")
    assert [len(json.loads(c.request.content)["inputs"]) for c in route.calls] == [1000, 5]
    assert set(found) == set(ids_)
    linked = fake.links[("contacts", "companies")]
    assert all(found[i] == sorted(set(linked.get(i, [])), key=int) for i in ids_)


def test_an_associations_answer_without_results_is_a_clear_error() -> None:
    with respx.mock(base_url=BASE_URL) as router:
        router.post("/crm/v4/associations/contacts/companies/batch/read").mock(
            return_value=httpx.Response(200, json={"status": "COMPLETE"})
        )
        with pytest.raises(SourceError, match="associations answer without 'results'"):
            Associations(make_connector().client).read(
                "contacts", "companies", ["1"], stream="contacts"
            )


# ----------------------------------------------------------------------------- owners
def test_owners_page_to_the_end_as_a_full_refresh() -> None:
    owner = {"id": "70", "email": "o@agency.example", "firstName": "Ana", "archived": False}
    with respx.mock(base_url=BASE_URL) as router:
        route = router.get("/crm/v3/owners").mock(
            side_effect=[
                httpx.Response(200, json=page([owner], after="1")),
                httpx.Response(200, json=page([{**owner, "id": "71"}], after="2")),
                httpx.Response(200, json=page([{**owner, "id": "72"}])),
            ]
        )
        owners = stream(make_connector(), "owners")
        batches = read(owners)
    assert owners.cursor_field is None
    assert ids(records(batches)) == ["70", "71", "72"]
    assert [c.request.url.params.get("after") for c in route.calls] == [None, "1", "2"]
    assert last_state(batches) == {}


def test_disabled_streams_are_not_offered() -> None:
    connector = make_connector(companies={"enabled": False}, owners={"enabled": False})
    assert [s.name for s in connector.streams()] == ["contacts", "deals"]
