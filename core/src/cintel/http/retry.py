"""When to retry a request, and how long to wait.

A request is retried on connection errors, timeouts, the statuses in
``RetryPolicy.statuses`` (429 and 5xx by default) and, for JSON requests, on a
body that is not valid JSON (a proxy cut it short). The wait before the next
attempt is, first that answers:

1. a connector's own ``RetryPolicy.retry_after(response)``: it knows the
   vendor's semantics better than generic headers (HubSpot's 429 body says
   ``"policyName": "DAILY"`` while its ``X-HubSpot-RateLimit-*`` headers still
   announce a ten-second window). It returns ``None`` to defer to the headers,
   and ``math.inf`` (or any wait beyond the budget) to say "do not retry: the
   quota is exhausted until then";
2. ``Retry-After`` in seconds or as an HTTP date;
3. a vendor reset header on a 429/503 (``RateLimit-Reset``, ``X-RateLimit-Reset``,
   ``X-Ratelimit-App-Global-Minute-Reset``…; delta seconds, epoch seconds or, for
   ``*-Interval-Milliseconds``, a window length);

otherwise exponential backoff with jitter. The **total** time spent waiting for
one request is bounded by ``RetryPolicy.max_wait``: when the next wait would
pass it, the request fails at once with a clear
:class:`~cintel.errors.RateLimitError` (naming who asked for how long) instead
of sleeping for an hour.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Literal

import httpx

__all__ = [
    "RetryPolicy",
    "WaitHint",
    "parse_quota",
    "parse_retry_after",
    "server_wait_hint",
    "wait_hint",
]

DEFAULT_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a client retries. Keyword-only; every field has a sane default.

    ``max_attempts`` counts the first try. ``max_wait`` bounds the total seconds
    spent waiting between attempts of one request; a server asking for a longer
    wait makes the request fail at once with :class:`~cintel.errors.RateLimitError`.
    """

    max_attempts: int = 8
    max_wait: float = 300.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    jitter: float = 1.0
    statuses: frozenset[int] = DEFAULT_STATUSES
    retry_invalid_json: bool = True
    #: Extra seconds added to a server's wait hint (clocks differ by a little).
    hint_margin: float = 0.05
    #: A connector's wait hint from a response (HubSpot's ``policyName``). It wins over
    #: ``Retry-After`` and reset headers; ``None`` defers to them; ``math.inf`` (or any
    #: wait past ``max_wait``) fails the request at once: the quota is exhausted. It runs
    #: on every retryable response; a ``ValueError`` it raises (a body that is not JSON)
    #: defers to the headers too.
    retry_after: Callable[[httpx.Response], float | None] | None = field(
        default=None, compare=False
    )
    #: Extra retryable responses (Salesforce's 403 ``REQUEST_LIMIT_EXCEEDED``).
    retry_on: Callable[[httpx.Response], bool] | None = field(default=None, compare=False)

    def backoff(self, attempt: int, rand: float) -> float:
        """Exponential backoff for ``attempt`` (1-based) with ``rand`` in [0, 1) of jitter."""
        base = min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1))
        return float(base + self.jitter * rand)

    def delay(self, attempt: int, hint: float | None, rand: float, scale: float = 1.0) -> float:
        """Seconds before the attempt after ``attempt``: the hint (plus margin) or backoff.

        ``scale`` multiplies backoff only, never a server's hint (test kits set it near 0).
        """
        if hint is not None:
            return hint + self.hint_margin
        return self.backoff(attempt, rand) * scale

    def exhausted(self, attempt: int, waited: float, upcoming: float) -> bool:
        """Whether to give up after ``attempt`` tries with ``waited`` s spent and ``upcoming`` next.

        The budget is the sum of the waits, not the wall clock since the first attempt.
        """
        return attempt >= self.max_attempts or waited + upcoming > self.max_wait

    def should_retry(self, response: httpx.Response) -> bool:
        """Whether this response is worth another attempt."""
        if response.status_code in self.statuses:
            return True
        return self.retry_on is not None and self.retry_on(response)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # "-0000": UTC, not the local time zone
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


_REMAINING = re.compile(r"^(?P<prefix>.*ratelimit.*-)remaining$", re.IGNORECASE)
_RESET = re.compile(r"^.*ratelimit.*-reset(-after)?$", re.IGNORECASE)
_EPOCH = 1_000_000_000


def _reset_seconds(name: str, value: str, now: float) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        return parse_retry_after(value, now=now)
    if "millisecond" in name.lower():
        return max(0.0, number / 1000)
    if number > _EPOCH * 1000:  # epoch milliseconds
        return max(0.0, number / 1000 - now)
    if number > _EPOCH:  # epoch seconds
        return max(0.0, number - now)
    return max(0.0, number)


def _quota_pairs(headers: Mapping[str, str], now: float) -> list[tuple[int, float]]:
    pairs: list[tuple[int, float]] = []
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, value in lowered.items():
        match = _REMAINING.match(name)
        if not match:
            continue
        try:
            remaining = int(float(value))
        except ValueError:
            continue
        prefix = match.group("prefix")
        reset: float | None = None
        for suffix in ("reset", "reset-after", "interval-milliseconds"):
            raw = lowered.get(prefix + suffix)
            if raw is not None:
                reset = _reset_seconds(prefix + suffix, raw, now)
                break
        if reset is not None:
            pairs.append((remaining, reset))
    return pairs


def parse_quota(
    headers: Mapping[str, str], *, now: float | None = None
) -> tuple[int, float] | None:
    """``(remaining, seconds until reset)`` of the tightest quota the headers announce.

    Reads every ``*ratelimit*-remaining`` header with its ``-reset`` (or
    ``-interval-milliseconds``) partner: ``RateLimit-*`` (IETF draft, Klaviyo),
    ``X-RateLimit-*``, ``X-HubSpot-RateLimit-*``,
    ``X-Ratelimit-App-Global-Minute-*`` (SurveyMonkey). A remaining count
    without a reset is ignored (nothing to wait for).
    """
    pairs = _quota_pairs(headers, time.time() if now is None else now)
    if not pairs:
        return None
    return min(pairs, key=lambda p: (p[0], -p[1]))


@dataclass(frozen=True, slots=True)
class WaitHint:
    """A wait asked for by a response, and who asked: ``"connector"`` or ``"server"``."""

    seconds: float
    source: Literal["connector", "server"]


def _connector_hint(response: httpx.Response, policy: RetryPolicy) -> float | None:
    if policy.retry_after is None:
        return None
    try:
        value = policy.retry_after(response)
    except ValueError:  # ``response.json()`` on a proxy's HTML 502: nothing to say
        return None
    if value is None or math.isnan(value):
        return None
    return max(0.0, float(value))


def _header_hint(response: httpx.Response, now: float) -> float | None:
    hint = parse_retry_after(response.headers.get("retry-after"), now=now)
    if hint is not None or response.status_code not in (429, 503):
        return hint
    pairs = _quota_pairs(response.headers, now)
    exhausted = [reset for remaining, reset in pairs if remaining <= 0]
    resets = exhausted or [reset for _, reset in pairs]
    if resets:
        return max(resets)
    # a reset header without its remaining count: the 429 says it is exhausted;
    # the soonest window is tried first (a later 429 says if another one is)
    lone = [
        r
        for name, value in response.headers.items()
        if _RESET.match(name) and (r := _reset_seconds(name, value, now)) is not None
    ]
    return min(lone) if lone else None


def wait_hint(response: httpx.Response, policy: RetryPolicy) -> WaitHint | None:
    """The wait the connector's rule or else the server asks for, and who asked."""
    connector = _connector_hint(response, policy)
    if connector is not None:
        return WaitHint(connector, "connector")
    server = _header_hint(response, time.time())
    return WaitHint(server, "server") if server is not None else None


def server_wait_hint(response: httpx.Response, policy: RetryPolicy) -> float | None:
    """Seconds the connector's rule (first) or the server asks to wait before the next attempt."""
    hint = wait_hint(response, policy)
    return hint.seconds if hint is not None else None
