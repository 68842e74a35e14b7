"""A client-side rate limit shared by every stream of one source.

One :class:`RateLimiter` per connector instance, handed to the client all of
its streams use (the engine reads streams in parallel threads; async streams
share it the same way)::

    limiter = RateLimiter(requests=100, per=10.0, max_concurrency=4)

It enforces three things before each request:

1. at most ``requests`` requests start in any ``per``-second window (a sliding
   window of start times, so bursts are smoothed rather than refused);
2. at most ``max_concurrency`` requests in flight, counted **once** for every
   client that shares the limiter: sync clients in threads and async clients
   in any number of event loops (one counter under a lock; a thread waits on a
   condition, a task awaits a future that a release wakes through its loop's
   ``call_soon_threadsafe``, so the event loop is never blocked);
3. the **server's** remaining quota: after each response the client reports
   ``(remaining, reset)`` parsed from the vendor's headers; when the quota is
   down to ``reserve`` the limiter holds every stream until the reset instead
   of letting them run into a 429. A 429 pauses everyone the same way.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass

__all__ = ["LimiterStats", "RateLimiter"]


@dataclass(slots=True)
class LimiterStats:
    """What the limiter did: requests let through, time held, pauses by the server."""

    acquired: int = 0
    waited: float = 0.0
    server_pauses: int = 0
    quota_holds: int = 0


class RateLimiter:
    """Requests per window, max concurrency and the server's announced quota; thread-safe.

    ``reserve`` requests are kept back from the server's remaining quota to
    cover requests already in flight when the count was taken.
    """

    def __init__(
        self,
        *,
        requests: int | None = None,
        per: float = 1.0,
        max_concurrency: int | None = None,
        reserve: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        asleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if requests is not None and requests < 1:
            raise ValueError("requests must be at least 1")
        if per <= 0:
            raise ValueError("per must be positive")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.requests = requests
        self.per = per
        self.max_concurrency = max_concurrency
        self.reserve = max(0, reserve)
        self._clock = clock
        self._sleep = sleep
        self._asleep = asleep
        self._lock = threading.Lock()
        self._starts: deque[float] = deque(maxlen=requests or 1)
        self._paused_until = 0.0
        self._quota_remaining: int | None = None
        self._quota_reset = 0.0
        # one concurrency count for threads and every event loop alike
        self._in_flight = 0
        self._waiting = 0
        self._cond = threading.Condition(threading.Lock())
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.stats = LimiterStats()

    def __repr__(self) -> str:
        rate = f"{self.requests}/{self.per:g}s" if self.requests else "unlimited"
        return f"<RateLimiter {rate} concurrency={self.max_concurrency or 'unlimited'}>"

    # ----------------------------------------------------------------- planning
    def reserve_slot(self) -> float:
        """Book the next start time; returns the seconds to wait for it."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._paused_until)
            if self.requests is not None and len(self._starts) == self.requests:
                slot = max(slot, self._starts[0] + self.per)
            if self._quota_remaining is not None:
                if now >= self._quota_reset:
                    self._quota_remaining = None  # a new window: unknown until told
                elif self._quota_remaining <= self.reserve:
                    # hold this and every later request until the server's window resets
                    self._paused_until = max(self._paused_until, self._quota_reset)
                    slot = max(slot, self._quota_reset)
                    self.stats.quota_holds += 1
                    self._quota_remaining = None
                else:
                    self._quota_remaining -= 1
            if self.requests is not None:
                self._starts.append(slot)
            self.stats.acquired += 1
            delay = slot - now
            self.stats.waited += delay
            return delay

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (the server said 429)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
            self.stats.server_pauses += 1

    def observe(self, remaining: int, reset_in: float) -> None:
        """Record the server's remaining quota and the seconds until it resets."""
        with self._lock:
            self._quota_remaining = remaining
            self._quota_reset = self._clock() + reset_in

    # ----------------------------------------------------------------- concurrency
    @property
    def in_flight(self) -> int:
        """Concurrency slots held now (sync and async together)."""
        with self._cond:
            return self._in_flight

    @property
    def waiting(self) -> int:
        """Callers (threads and tasks) waiting for a concurrency slot now."""
        with self._cond:
            return self._waiting

    def _try_take(self) -> bool:
        """Take a slot if one is free; the caller holds ``self._cond``."""
        if self.max_concurrency is None or self._in_flight < self.max_concurrency:
            self._in_flight += 1
            return True
        return False

    def _take(self) -> None:
        with self._cond:
            if self._try_take():
                return
            self._waiting += 1
            self._cond.notify_all()  # for observers of ``waiting``; waiters re-check and wait
            try:
                while not self._try_take():
                    self._cond.wait()
            finally:
                self._waiting -= 1

    async def _atake(self) -> None:
        loop = asyncio.get_running_loop()
        counted = False
        try:
            while True:
                with self._cond:
                    if self._try_take():
                        return
                    if not counted:
                        counted = True
                        self._waiting += 1
                        self._cond.notify_all()
                    woken: asyncio.Future[None] = loop.create_future()
                    self._async_waiters.append((loop, woken))
                try:
                    await woken
                finally:
                    with self._cond:
                        if (loop, woken) in self._async_waiters:
                            self._async_waiters.remove((loop, woken))
        finally:
            if counted:
                with self._cond:
                    self._waiting -= 1

    def _give_back(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()
            # every waiting task tries again; those that lose wait for the next release
            waiters, self._async_waiters = self._async_waiters, []
        for loop, woken in waiters:
            with suppress(RuntimeError):  # that loop is closed: nobody waits there any more
                loop.call_soon_threadsafe(_wake, woken)

    # ----------------------------------------------------------------- sync
    def acquire(self) -> None:
        """Wait for a concurrency slot and a start time (blocking)."""
        if self.max_concurrency is not None:
            self._take()
        try:
            delay = self.reserve_slot()
            if delay > 0:
                self._sleep(delay)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Give back the concurrency slot taken by :meth:`acquire`."""
        if self.max_concurrency is not None:
            self._give_back()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """``with limiter.slot(): send()``."""
        self.acquire()
        try:
            yield
        finally:
            self.release()

    # ----------------------------------------------------------------- async
    @asynccontextmanager
    async def aslot(self) -> AsyncIterator[None]:
        """``async with limiter.aslot(): await send()`` (shares the cap with sync callers)."""
        if self.max_concurrency is not None:
            await self._atake()
        try:
            delay = self.reserve_slot()
            if delay > 0:
                await self._asleep(delay)
            yield
        finally:
            self.release()


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)
