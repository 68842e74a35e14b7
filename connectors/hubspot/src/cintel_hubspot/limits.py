"""HubSpot's rate limits and refusals, on top of the toolkit's client and limiter.

HubSpot announces two limits on every response (search responses may omit them):

- a rolling **ten-second** window, ``X-HubSpot-RateLimit-Max``/``-Remaining``/
  ``-Interval-Milliseconds``. The toolkit's :class:`~cintel.http.RateLimiter` reads
  these itself (``parse_quota``): when ``Remaining`` is down to the limiter's
  reserve, every stream of the source waits for the interval instead of running
  into a 429;
- a **daily** limit, ``X-HubSpot-RateLimit-Daily``/``-Daily-Remaining``, with no
  reset time (midnight in the account's time zone). :class:`HubSpotQuota` watches
  it: once the remaining count is at ``daily_reserve``, the next request of any
  stream fails with :class:`DailyLimitError` instead of being sent.

After a 429, the body's ``policyName`` decides (:meth:`HubSpotQuota.retry_wait`,
the client's ``RetryPolicy.retry_after`` rule): ``DAILY`` fails at once (and stops
every other stream before its next request), ``TEN_SECONDLY_ROLLING`` waits for
the next window (``Retry-After`` if sent, else the interval header, else 10 s),
``SECONDLY`` (search) one second. Without a policy the toolkit's defaults apply
(``Retry-After``, then backoff). Search requests also go through a limiter of
their own (:class:`HubSpotLimiter` chained to the general one).
"""

from __future__ import annotations

import math
import re
import threading
from typing import Any

import httpx
from cintel.errors import AuthError, SourceError
from cintel.http import RateLimiter, parse_retry_after

__all__ = [
    "DailyLimitError",
    "HubSpotLimiter",
    "HubSpotQuota",
    "explain_auth_error",
    "scopes_for",
]

DAILY_REMAINING = "X-HubSpot-RateLimit-Daily-Remaining"
DAILY_MAX = "X-HubSpot-RateLimit-Daily"
INTERVAL = "X-HubSpot-RateLimit-Interval-Milliseconds"
TEN_SECONDS = 10.0


class DailyLimitError(SourceError):
    """HubSpot's daily request limit is used up: the stream stops, the next run resumes."""


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(float(raw))
    except ValueError:
        return None


class HubSpotQuota:
    """The daily quota as the responses report it, shared by every stream of a source.

    ``observe`` is the client's ``error_check`` (it sees every successful response and
    never reports an error); ``retry_wait`` its ``RetryPolicy.retry_after`` rule;
    ``check`` runs before each request (from :class:`HubSpotLimiter`).
    """

    def __init__(self, *, reserve: int = 0) -> None:
        self.reserve = reserve
        self._lock = threading.Lock()
        self.remaining: int | None = None
        self.limit: int | None = None
        self.daily_429 = False

    def __repr__(self) -> str:
        return f"<HubSpotQuota daily remaining={self.remaining} of {self.limit}>"

    def reset(self) -> None:
        """Forget what was seen (a new run: the day may have turned since)."""
        with self._lock:
            self.remaining = self.limit = None
            self.daily_429 = False

    def observe(self, response: httpx.Response, body: Any) -> str | None:
        """Record ``X-HubSpot-RateLimit-Daily-Remaining`` of a successful response."""
        remaining = _int_header(response.headers, DAILY_REMAINING)
        if remaining is not None:
            with self._lock:
                self.remaining = remaining
                self.limit = _int_header(response.headers, DAILY_MAX) or self.limit
        return None

    @property
    def exhausted(self) -> bool:
        """Whether no request should be sent until the day turns."""
        with self._lock:
            return self.daily_429 or (self.remaining is not None and self.remaining <= self.reserve)

    def why(self) -> str:
        """What says the daily limit is used up, for messages."""
        with self._lock:
            if self.daily_429:
                return "HubSpot answered 429 with policyName DAILY"
            of = f" of {self.limit:,}" if self.limit else ""
            text = f"{DAILY_REMAINING} is {self.remaining:,}{of}"
            if self.reserve:
                text += f", at or below daily_reserve = {self.reserve:,}"
            return text

    def error(self, *, source: str | None, stream: str | None) -> DailyLimitError:
        """The error a stream stops with."""
        return DailyLimitError(
            f"HubSpot's daily API request limit is used up ({self.why()}); the stream stopped "
            "and the next run resumes from its last committed checkpoint. The limit resets at "
            "midnight in the HubSpot account's time zone (usage: Settings > Integrations > "
            "Private Apps > the app > Logs)",
            source=source,
            stream=stream,
        )

    def check(self, *, source: str | None = None, stream: str | None = None) -> None:
        """Raise :class:`DailyLimitError` when the daily quota is used up."""
        if self.exhausted:
            raise self.error(source=source, stream=stream)

    def retry_wait(self, response: httpx.Response) -> float | None:
        """Seconds to wait after a 429 by its ``policyName``; ``inf``: do not retry."""
        if response.status_code != 429:
            return None
        body = response.json()  # not JSON: ValueError, the toolkit falls back to the headers
        policy = body.get("policyName") if isinstance(body, dict) else None
        if not isinstance(policy, str):
            return None
        policy = policy.upper()
        if policy == "DAILY":
            with self._lock:
                self.daily_429 = True
            return math.inf
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            return retry_after
        if policy == "SECONDLY":
            return 1.0
        if "SECONDLY" in policy:  # TEN_SECONDLY_ROLLING: the next window
            interval = _int_header(response.headers, INTERVAL)
            return interval / 1000 if interval else TEN_SECONDS
        return None


class HubSpotLimiter(RateLimiter):
    """A :class:`RateLimiter` that also refuses requests once the daily quota is used up.

    With ``parent`` it is chained: a request waits for a slot of both (the search
    limiter inside the general one), and pauses and quota reports reach both.
    """

    def __init__(
        self, *, quota: HubSpotQuota, parent: RateLimiter | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.quota = quota
        self.parent = parent

    def reserve_slot(self) -> float:
        """Book the next start time; raises :class:`DailyLimitError` when the day is used up."""
        self.quota.check()
        delay = super().reserve_slot()
        if self.parent is not None:
            delay = max(delay, self.parent.reserve_slot())
        return delay

    def pause(self, seconds: float) -> None:
        """Hold every request of this limiter and of its parent."""
        super().pause(seconds)
        if self.parent is not None:
            self.parent.pause(seconds)

    def observe(self, remaining: int, reset_in: float) -> None:
        """Record the server's ten-second quota here and in the parent."""
        super().observe(remaining, reset_in)
        if self.parent is not None:
            self.parent.observe(remaining, reset_in)


# -- refusals ---------------------------------------------------------------------------

_OBJECT = re.compile(r"/crm/v3/objects/([a-z_0-9]+)")
_ASSOC = re.compile(r"/crm/v4/associations/([a-z_0-9]+)/([a-z_0-9]+)/")
_SCOPES = re.compile(r'"required(?:Granular)?Scopes"\s*:\s*\[([^\]]*)\]')
_CATEGORY = re.compile(r'"category"\s*:\s*"([A-Z_]+)"')
_SCOPE_NAME = re.compile(r'"([a-z][a-z0-9_.-]*\.[a-z0-9_.-]+)"')


def scopes_for(url: str) -> list[str]:
    """The read scopes a request to ``url`` needs (private app scope names)."""
    if "/crm/v3/owners" in url:
        return ["crm.objects.owners.read"]
    if match := _ASSOC.search(url):
        return [f"crm.objects.{match.group(1)}.read", f"crm.objects.{match.group(2)}.read"]
    if match := _OBJECT.search(url):
        return [f"crm.objects.{match.group(1)}.read"]
    return []


def explain_auth_error(exc: AuthError) -> AuthError:
    """The same refusal with a message saying what to do (never showing the token).

    401: the token is wrong, expired or revoked. 403: a scope is missing, named from
    the response body when it says (``requiredGranularScopes``), else from the
    endpoint that was called.
    """
    body = exc.body or ""
    category = m.group(1) if (m := _CATEGORY.search(body)) else None
    tag = f"HTTP {exc.status}" + (f", {category}" if category else "")
    if exc.status == 401:
        expired = category == "EXPIRED_AUTHENTICATION"
        message = (
            f"HubSpot rejected the access token ({tag}): it is "
            + ("expired" if expired else "wrong, expired or revoked")
            + ". Copy the private app's access token again (Settings > Integrations > "
            "Private Apps > the app > Auth) into access_token"
        )
    else:
        named = _SCOPE_NAME.findall(m.group(1)) if (m := _SCOPES.search(body)) else []
        needed = named or scopes_for(exc.url)
        which = ", ".join(needed) if needed else "the read scope of this object"
        said = "the response names" if named else "this request needs"
        message = (
            f"HubSpot refused access ({tag}): the private app lacks a scope; {said} "
            f"{which}. Add it under Settings > Integrations > Private Apps > the app > "
            "Scopes, or disable the stream"
        )
    return AuthError(
        message,
        method=exc.method,
        url=exc.url,
        status=exc.status,
        body=exc.body,
        attempts=exc.attempts,
        source=exc.source,
        stream=exc.stream,
    )
