"""RateLimiter with a fake clock, real threads for concurrency; quota and Retry-After parsing."""

from __future__ import annotations

import asyncio
import email.utils
import threading
from typing import Any

import httpx
import pytest
from cintel.http import AsyncHttpClient, HttpClient, RateLimiter, parse_quota, parse_retry_after
from cintel.http.retry import RetryPolicy, server_wait_hint


class FakeClock:
    """A clock that only moves when someone sleeps on it; records the sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def limiter(clock: FakeClock, **kwargs: Any) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, asleep=clock.asleep, **kwargs)


# --------------------------------------------------------------------------- window
def test_the_eleventh_request_of_ten_per_second_waits_for_the_window() -> None:
    clock = FakeClock()
    lim = limiter(clock, requests=10, per=1.0)
    for _ in range(10):
        lim.acquire()
        lim.release()
        clock.now += 0.05  # ten requests within half a second
    assert clock.waits == []
    lim.acquire()  # at +0.5 s: the first start leaves the window at +1.0 s
    lim.release()
    assert clock.waits == [pytest.approx(0.5)]
    assert lim.stats.acquired == 11
    assert lim.stats.waited == pytest.approx(0.5)


def test_window_slides_rather_than_resetting() -> None:
    clock = FakeClock()
    lim = limiter(clock, requests=2, per=1.0)
    starts = []
    for _ in range(6):
        with lim.slot():
            starts.append(clock.now - 1000.0)
    # a burst is spread out: never more than 2 starts in any 1-second window
    assert starts == pytest.approx([0.0, 0.0, 1.0, 1.0, 2.0, 2.0])
    for i in range(len(starts) - 2):
        assert starts[i + 2] - starts[i] >= 1.0 - 1e-9


def test_no_wait_once_the_window_has_passed() -> None:
    clock = FakeClock()
    lim = limiter(clock, requests=3, per=10.0)
    for _ in range(3):
        with lim.slot():
            pass
    clock.now += 10.0
    for _ in range(3):
        with lim.slot():
            pass
    assert clock.waits == []


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="requests"):
        RateLimiter(requests=0)
    with pytest.raises(ValueError, match="per"):
        RateLimiter(requests=1, per=0)
    with pytest.raises(ValueError, match="max_concurrency"):
        RateLimiter(max_concurrency=0)


def test_repr() -> None:
    assert repr(RateLimiter(requests=100, per=10, max_concurrency=4)) == (
        "<RateLimiter 100/10s concurrency=4>"
    )
    assert repr(RateLimiter()) == "<RateLimiter unlimited concurrency=unlimited>"


# --------------------------------------------------------------------------- concurrency
def test_max_concurrency_with_real_threads() -> None:
    lim = RateLimiter(max_concurrency=3)
    n_threads = 8
    state = {"inside": 0, "max": 0, "entered": 0}
    cond = threading.Condition()
    release = threading.Event()
    start = threading.Barrier(n_threads + 1)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait(timeout=10)
            with lim.slot():
                with cond:
                    state["inside"] += 1
                    state["entered"] += 1
                    state["max"] = max(state["max"], state["inside"])
                    cond.notify_all()
                release.wait(timeout=10)
                with cond:
                    state["inside"] -= 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for t in threads:
        t.start()
    start.wait(timeout=10)
    with cond:
        assert cond.wait_for(lambda: state["inside"] == 3, timeout=10)
        # the three holders are blocked on `release`; nobody else got in meanwhile
        assert state["entered"] == 3
    release.set()
    for t in threads:
        t.join(timeout=10)
    assert not errors
    assert state["entered"] == n_threads
    assert state["max"] == 3


def test_slot_is_released_when_the_body_raises() -> None:
    lim = RateLimiter(max_concurrency=1)
    with pytest.raises(RuntimeError), lim.slot():
        raise RuntimeError("boom")
    acquired = threading.Event()

    def other() -> None:
        with lim.slot():
            acquired.set()

    t = threading.Thread(target=other)
    t.start()
    t.join(timeout=10)
    assert acquired.is_set()


def test_slot_is_released_when_the_wait_is_interrupted() -> None:
    clock = FakeClock()

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    lim = RateLimiter(max_concurrency=1, clock=clock, sleep=interrupted)
    lim.pause(5)
    with pytest.raises(KeyboardInterrupt):
        lim.acquire()
    assert lim.in_flight == 0  # the slot came back


# --------------------------------------------------------------------------- server quota
def test_quota_down_to_reserve_holds_next_request_until_reset() -> None:
    clock = FakeClock()
    lim = limiter(clock, reserve=1)
    lim.observe(remaining=1, reset_in=5)
    with lim.slot():
        pass
    assert clock.waits == [pytest.approx(5.0)]
    assert lim.stats.quota_holds == 1
    with lim.slot():  # a new window: unknown quota, no hold
        pass
    assert clock.waits == [pytest.approx(5.0)]


def test_quota_above_reserve_lets_the_difference_through() -> None:
    clock = FakeClock()
    lim = limiter(clock, reserve=1)
    lim.observe(remaining=3, reset_in=8)
    for _ in range(2):
        with lim.slot():
            pass
    assert clock.waits == []
    clock.now += 1.0
    with lim.slot():
        pass
    assert clock.waits == [pytest.approx(7.0)]


def test_quota_hold_applies_to_every_stream() -> None:
    clock = FakeClock()
    lim = limiter(clock, reserve=0)
    lim.observe(remaining=0, reset_in=4)
    assert lim.reserve_slot() == pytest.approx(4.0)
    assert lim.reserve_slot() == pytest.approx(4.0)  # the next caller is held as well


def test_quota_is_forgotten_after_its_reset() -> None:
    clock = FakeClock()
    lim = limiter(clock, reserve=1)
    lim.observe(remaining=0, reset_in=3)
    clock.now += 3.0
    assert lim.reserve_slot() == 0


def test_pause_holds_everyone_and_never_shortens() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    lim.pause(7)
    lim.pause(2)
    assert lim.reserve_slot() == pytest.approx(7.0)
    assert lim.stats.server_pauses == 2
    clock.now += 7.0
    assert lim.reserve_slot() == 0


def test_pause_combines_with_the_window() -> None:
    clock = FakeClock()
    lim = limiter(clock, requests=1, per=10.0)
    assert lim.reserve_slot() == 0
    lim.pause(3)
    assert lim.reserve_slot() == pytest.approx(10.0)  # the window is the longer wait
    lim.pause(30)
    assert lim.reserve_slot() == pytest.approx(30.0)


# --------------------------------------------------------------------------- async
def test_async_slots_wait_with_the_injected_sleep_and_cap_concurrency() -> None:
    clock = FakeClock()
    lim = limiter(clock, requests=2, per=1.0, max_concurrency=2)
    state = {"inside": 0, "max": 0}
    starts: list[float] = []

    async def one(gate: asyncio.Event, two_inside: asyncio.Event) -> None:
        async with lim.aslot():
            starts.append(clock.now - 1000.0)
            state["inside"] += 1
            state["max"] = max(state["max"], state["inside"])
            if state["inside"] == 2:
                two_inside.set()
            await gate.wait()
            state["inside"] -= 1

    async def main() -> None:
        gate, two_inside = asyncio.Event(), asyncio.Event()
        tasks = [asyncio.create_task(one(gate, two_inside)) for _ in range(5)]
        await asyncio.wait_for(two_inside.wait(), timeout=10)
        for _ in range(20):  # give the others every chance to get in
            await asyncio.sleep(0)
        assert state["inside"] == 2
        gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert state["max"] == 2
    assert lim.stats.acquired == 5
    # 2 starts a second, on the fake clock moved only by the injected async sleep
    assert starts == pytest.approx([0.0, 0.0, 1.0, 1.0, 2.0])


def test_async_slot_honours_a_quota_hold() -> None:
    clock = FakeClock()
    lim = limiter(clock, reserve=1)
    lim.observe(remaining=1, reset_in=5)

    async def main() -> None:
        async with lim.aslot():
            pass

    asyncio.run(main())
    assert clock.waits == [pytest.approx(5.0)]


def test_limiter_works_across_event_loops() -> None:
    lim = RateLimiter(max_concurrency=1)

    async def main() -> int:
        async with lim.aslot():
            return 1

    assert asyncio.run(main()) + asyncio.run(main()) == 2


class InFlight:
    """Requests inside the transports right now, and the most at once.

    It shares the limiter's condition, so a test can wait for a state of both.
    """

    def __init__(self, cond: threading.Condition) -> None:
        self.cond = cond
        self.inside = 0
        self.max = 0
        self.done = 0
        self.release = threading.Event()

    def enter(self) -> None:
        with self.cond:
            self.inside += 1
            self.max = max(self.max, self.inside)
            self.cond.notify_all()

    def leave(self) -> None:
        with self.cond:
            self.inside -= 1
            self.done += 1
            self.cond.notify_all()


class HeldTransport(httpx.BaseTransport):
    """Holds every request until ``gauge.release`` is set."""

    def __init__(self, gauge: InFlight) -> None:
        self.gauge = gauge

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.gauge.enter()
        try:
            assert self.gauge.release.wait(timeout=10)
        finally:
            self.gauge.leave()
        return httpx.Response(200, json={"data": []})


class AsyncHeldTransport(httpx.AsyncBaseTransport):
    """Holds every request until ``gauge.release`` is set, without blocking its loop."""

    def __init__(self, gauge: InFlight) -> None:
        self.gauge = gauge

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.gauge.enter()
        try:
            assert await asyncio.to_thread(self.gauge.release.wait, 10)
        finally:
            self.gauge.leave()
        return httpx.Response(200, json={"data": []})


def test_sync_and_async_clients_on_one_limiter_share_one_concurrency_cap() -> None:
    """Threads and two event loops together never have more than max_concurrency in flight."""
    lim = RateLimiter(max_concurrency=2)
    gauge = InFlight(lim._cond)
    n_threads, n_loops, per_loop = 2, 2, 2
    total = n_threads + n_loops * per_loop
    errors: list[BaseException] = []
    sync_client = HttpClient(
        base_url="http://api.test", limiter=lim, transport=HeldTransport(gauge)
    )

    def sync_worker() -> None:
        try:
            sync_client.get_json("/contacts")
        except BaseException as exc:
            errors.append(exc)

    async def async_main() -> None:
        async with AsyncHttpClient(
            base_url="http://api.test", limiter=lim, transport=AsyncHeldTransport(gauge)
        ) as c:
            await asyncio.gather(*(c.get_json("/contacts") for _ in range(per_loop)))

    def loop_worker() -> None:
        try:
            asyncio.run(async_main())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sync_worker) for _ in range(n_threads)]
    threads += [threading.Thread(target=loop_worker) for _ in range(n_loops)]
    for t in threads:
        t.start()
    with lim._cond:
        # too many got in, or two are in and every other caller is queued at the limiter
        settled = lim._cond.wait_for(
            lambda: gauge.inside > 2 or (gauge.inside == 2 and lim._waiting == total - 2),
            timeout=10,
        )
        inside_then = gauge.inside
    gauge.release.set()
    for t in threads:
        t.join(timeout=20)
    sync_client.close()
    assert not errors
    assert settled
    assert inside_then == 2
    assert gauge.max == 2
    assert gauge.done == total
    assert (lim.in_flight, lim.waiting) == (0, 0)


def test_a_cancelled_async_waiter_gives_up_its_place() -> None:
    lim = RateLimiter(max_concurrency=1)

    async def main() -> None:
        async with lim.aslot():
            waiter = asyncio.create_task(lim.aslot().__aenter__())
            await asyncio.sleep(0)  # one step: the task runs until it waits for the slot
            assert lim.waiting == 1
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert (lim.in_flight, lim.waiting) == (1, 0)
        async with lim.aslot():  # the slot is free again
            assert lim.in_flight == 1

    asyncio.run(main())
    assert lim.in_flight == 0


def test_an_async_waiter_is_woken_by_a_release_in_another_thread() -> None:
    lim = RateLimiter(max_concurrency=1)
    lim.acquire()  # a sync caller holds the only slot
    got_in = threading.Event()

    async def main() -> None:
        async with lim.aslot():
            got_in.set()

    t = threading.Thread(target=asyncio.run, args=(main(),))
    t.start()
    with lim._cond:
        assert lim._cond.wait_for(lambda: lim._waiting == 1, timeout=10)
    assert not got_in.is_set()
    lim.release()
    t.join(timeout=10)
    assert got_in.is_set()
    assert lim.in_flight == 0


# --------------------------------------------------------------------------- parse_quota
NOW = 1_714_550_400.0


def test_parse_quota_hubspot_remaining_and_interval() -> None:
    headers = httpx.Headers(
        {
            "X-HubSpot-RateLimit-Max": "190",
            "X-HubSpot-RateLimit-Remaining": "37",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Daily": "1000000",
            "X-HubSpot-RateLimit-Daily-Remaining": "3",  # no reset partner: ignored
        }
    )
    assert parse_quota(headers, now=NOW) == (37, 10.0)


def test_parse_quota_surveymonkey_tightest_window_wins() -> None:
    def headers(minute: int, day: int) -> dict[str, str]:
        return {
            "X-Ratelimit-App-Global-Minute-Limit": "120",
            "X-Ratelimit-App-Global-Minute-Remaining": str(minute),
            "X-Ratelimit-App-Global-Minute-Reset": "42",
            "X-Ratelimit-App-Global-Day-Limit": "500",
            "X-Ratelimit-App-Global-Day-Remaining": str(day),
            "X-Ratelimit-App-Global-Day-Reset": "80000",
        }

    assert parse_quota(headers(5, 300), now=NOW) == (5, 42.0)
    assert parse_quota(headers(100, 2), now=NOW) == (2, 80000.0)
    # equal counts: the longer wait is the tighter one
    assert parse_quota(headers(4, 4), now=NOW) == (4, 80000.0)


def test_parse_quota_klaviyo_ietf_headers() -> None:
    headers = {"RateLimit-Limit": "700", "RateLimit-Remaining": "699", "RateLimit-Reset": "53"}
    assert parse_quota(headers, now=NOW) == (699, 53.0)


def test_parse_quota_epoch_seconds_and_milliseconds_reset() -> None:
    secs = {"X-RateLimit-Remaining": "12", "X-RateLimit-Reset": str(int(NOW) + 25)}
    assert parse_quota(secs, now=NOW) == (12, pytest.approx(25.0))
    millis = {"X-RateLimit-Remaining": "12", "X-RateLimit-Reset": str(int(NOW + 25) * 1000)}
    assert parse_quota(millis, now=NOW) == (12, pytest.approx(25.0))
    past = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) - 100)}
    assert parse_quota(past, now=NOW) == (0, 0.0)


def test_parse_quota_without_usable_headers() -> None:
    assert parse_quota({}, now=NOW) is None
    assert parse_quota({"X-RateLimit-Remaining": "5"}, now=NOW) is None  # no reset
    assert parse_quota({"X-RateLimit-Remaining": "lots", "X-RateLimit-Reset": "5"}) is None
    assert parse_quota({"Sforce-Limit-Info": "api-usage=18/5000"}, now=NOW) is None


# --------------------------------------------------------------------------- retry-after
def test_parse_retry_after_seconds() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("-3") == 0.0


def test_parse_retry_after_http_date() -> None:
    date = email.utils.formatdate(NOW + 90, usegmt=True)
    assert parse_retry_after(date, now=NOW) == pytest.approx(90.0)
    assert parse_retry_after(email.utils.formatdate(NOW - 90, usegmt=True), now=NOW) == 0.0
    # "-0000" (UTC, no zone known) must not be read as local time
    minus_zero = email.utils.formatdate(NOW + 30).rsplit(" ", 1)[0] + " -0000"
    assert parse_retry_after(minus_zero, now=NOW) == pytest.approx(30.0)


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "nan", "inf", "Wed, 99 Foo 20"])
def test_parse_retry_after_garbage(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_server_wait_hint_on_503_and_not_on_500_reset_headers() -> None:
    policy = RetryPolicy()
    headers = {"RateLimit-Remaining": "0", "RateLimit-Reset": "6"}
    assert server_wait_hint(httpx.Response(503, headers=headers), policy) == 6.0
    # reset headers on other statuses are quota reports, not wait hints
    assert server_wait_hint(httpx.Response(500, headers=headers), policy) is None
    assert server_wait_hint(httpx.Response(500, headers={"Retry-After": "2"}), policy) == 2.0
