"""HTTP clients for connectors: httpx with retries, rate limits and clear errors.

::

    from cintel.http import BearerAuth, HttpClient, RateLimiter

    client = HttpClient(
        base_url="https://api.acme.test/v1",
        auth=BearerAuth(config.token),
        limiter=RateLimiter(requests=100, per=10, max_concurrency=4),  # one per source
        source=context.source,
    )
    page = client.get_json("/contacts", params={"limit": 100}, stream="contacts")
    page.body["data"]

:class:`HttpClient` (threads) and :class:`AsyncHttpClient` (asyncio) behave the
same: every request goes through the limiter, is retried on connection errors,
timeouts, 429 and 5xx as :class:`~cintel.http.retry.RetryPolicy` says (server
wait hints first, exponential backoff with jitter otherwise, bounded total
wait), reports the server's remaining quota to the limiter, and fails with an
:class:`~cintel.errors.HttpError` naming the status, method, URL (secrets
masked), a body excerpt and the stream. The transport is injectable
(``transport=httpx.MockTransport(...)``, respx, a cassette) for tests.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx
import orjson
import structlog
import tenacity

from cintel import __version__
from cintel.errors import AuthError, HttpError, RateLimitError, ResponseError
from cintel.http._util import excerpt, redact_url
from cintel.http.ratelimit import RateLimiter
from cintel.http.retry import RetryPolicy, parse_quota, wait_hint

__all__ = ["AsyncHttpClient", "ErrorCheck", "HttpClient", "JsonResponse"]

log = structlog.get_logger("cintel.http")

#: Looks at a parsed 2xx body and returns an error message when the API
#: signals an error inside a success (Matomo's ``{"result": "error"}``).
ErrorCheck = Callable[[httpx.Response, Any], str | None]

USER_AGENT = f"cintel/{__version__} (+https://github.com/cintel/cintel)"


@dataclass(frozen=True, slots=True)
class JsonResponse:
    """A response and its parsed JSON body."""

    response: httpx.Response
    body: Any

    @property
    def headers(self) -> httpx.Headers:
        """The response headers."""
        return self.response.headers

    @property
    def url(self) -> httpx.URL:
        """The URL that was requested (after redirects)."""
        return self.response.url


class _Retry(Exception):
    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        hint: float | None = None,
        hint_source: str = "server",
        body: str = "",
        rate_limited: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.hint = hint
        self.hint_source = hint_source
        self.body = body
        self.rate_limited = rate_limited


class _Base:
    #: Multiplies backoff waits (not server hints); test kits set it near 0.
    backoff_scale: float = 1.0
    _client: httpx.Client | httpx.AsyncClient

    def __init__(
        self,
        *,
        base_url: str,
        retry: RetryPolicy | None,
        limiter: RateLimiter | None,
        error_check: ErrorCheck | None,
        source: str | None,
        secret_params: Iterable[str],
        observe_quota: bool,
        seed: int | None,
    ) -> None:
        self.base_url = base_url
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self.error_check = error_check
        self.source = source
        self.secret_params = tuple(secret_params)
        self.observe_quota = observe_quota
        self._rng = random.Random(seed)  # noqa: S311 - jitter, not crypto
        self.requests_sent = 0
        self.retries = 0

    def _url(self, request_url: httpx.URL | str) -> str:
        return redact_url(request_url, self.secret_params)

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"<{name} base_url={self._url(self.base_url)!r} source={self.source!r}>"

    def _tenacity_kwargs(self) -> dict[str, Any]:
        policy = self.retry

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            hint = exc.hint if isinstance(exc, _Retry) else None
            return policy.delay(state.attempt_number, hint, self._rng.random(), self.backoff_scale)

        def stop(state: tenacity.RetryCallState) -> bool:
            # The budget is the sum of the waits (``idle_for``), not the wall clock since
            # the first attempt: request time does not count, and an injected sleep works.
            return policy.exhausted(state.attempt_number, state.idle_for, state.upcoming_sleep)

        return {
            "stop": stop,
            "wait": wait,
            "retry": tenacity.retry_if_exception_type(_Retry),
            "before_sleep": self._before_sleep,
            "reraise": False,
        }

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if not isinstance(exc, _Retry):
            return
        self.retries += 1
        wait = state.upcoming_sleep
        if exc.rate_limited and exc.hint is not None and self.limiter is not None:
            self.limiter.pause(exc.hint)  # every stream of the source waits, not only this one
        log.warning(
            "retrying request",
            source=self.source,
            status=exc.status,
            reason=exc.reason,
            attempt=state.attempt_number,
            wait=round(wait, 2),
        )

    def _give_up(
        self,
        err: tenacity.RetryError,
        method: str,
        url: str,
        stream: str | None,
        kwargs: Mapping[str, Any],
    ) -> HttpError:
        """The final error once retries ran out; ``url`` is made full and secret-free."""
        full = self._client.build_request(method, url, params=kwargs.get("params")).url
        url = self._url(full)
        last = err.last_attempt
        exc = last.exception()
        attempts = last.attempt_number
        if not isinstance(exc, _Retry):  # pragma: no cover - only _Retry is retried
            raise err
        out_of_time = attempts < self.retry.max_attempts
        budget = f"retry budget of {self.retry.max_wait:g}s"
        if exc.rate_limited:
            too_long = exc.hint is not None and exc.hint > self.retry.max_wait
            if exc.hint is not None and (out_of_time or too_long):
                who = (
                    "the connector's rule for this response"
                    if exc.hint_source == "connector"
                    else "the server"
                )
                if math.isinf(exc.hint):
                    message = (
                        f"rate limited and the quota is exhausted: {who} says not to retry "
                        f"(the wait is beyond the {budget})"
                    )
                else:
                    message = (
                        f"rate limited; {who} asks to wait {exc.hint:.0f}s, "
                        f"which would pass the {budget}"
                    )
            else:
                message = "still rate limited after every retry"
            return RateLimitError(
                message,
                method=method,
                url=url,
                status=exc.status,
                body=exc.body,
                attempts=attempts,
                source=self.source,
                stream=stream,
            )
        why = f"gave up within the {budget}" if out_of_time else "gave up"
        error_cls: type[HttpError] = (
            ResponseError if exc.reason.startswith("invalid JSON") else HttpError
        )
        return error_cls(
            f"{exc.reason}; {why}",
            method=method,
            url=url,
            status=exc.status,
            body=exc.body,
            attempts=attempts,
            source=self.source,
            stream=stream,
        )

    def _check(self, response: httpx.Response, want_json: bool, stream: str | None) -> JsonResponse:
        """Judge one response: return it, raise ``_Retry`` or raise a final error."""
        if self.observe_quota and self.limiter is not None:
            quota = parse_quota(response.headers)
            if quota is not None:
                self.limiter.observe(*quota)
        status = response.status_code
        method = response.request.method
        url = self._url(response.request.url)
        if self.retry.should_retry(response):
            rate_limited = status == 429 or (
                self.retry.retry_on is not None and self.retry.retry_on(response)
            )
            hint = wait_hint(response, self.retry)
            raise _Retry(
                f"HTTP {status} {response.reason_phrase}".strip(),
                status=status,
                hint=hint.seconds if hint is not None else None,
                hint_source=hint.source if hint is not None else "server",
                body=excerpt(response.content),
                rate_limited=rate_limited,
            )
        if status in (401, 403):
            what = "rejected the credentials" if status == 401 else "refused access"
            raise AuthError(
                f"the API {what}; check the token or key and its permissions",
                method=method,
                url=url,
                status=status,
                body=excerpt(response.content),
                source=self.source,
                stream=stream,
            )
        if status >= 400:
            raise HttpError(
                f"{response.reason_phrase or 'error'}",
                method=method,
                url=url,
                status=status,
                body=excerpt(response.content),
                source=self.source,
                stream=stream,
            )
        body: Any = None
        if want_json:
            try:
                body = orjson.loads(response.content) if response.content else None
            except orjson.JSONDecodeError as exc:
                reason = f"invalid JSON in the response body ({exc})"
                if self.retry.retry_invalid_json:
                    raise _Retry(
                        "invalid JSON in the response body",
                        status=status,
                        body=excerpt(response.content),
                    ) from None
                raise ResponseError(
                    reason,
                    method=method,
                    url=url,
                    status=status,
                    body=excerpt(response.content),
                    source=self.source,
                    stream=stream,
                ) from None
            if self.error_check is not None:
                problem = self.error_check(response, body)
                if problem:
                    raise HttpError(
                        f"the API reported an error in a {status} response: {problem}",
                        method=method,
                        url=url,
                        status=status,
                        body=excerpt(response.content),
                        source=self.source,
                        stream=stream,
                    )
        return JsonResponse(response, body)

    def _transport_failure(self, exc: httpx.TransportError) -> _Retry:
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
        detail = type(exc).__name__
        text = str(exc)
        if text:
            detail += f": {excerpt(text, 160)}"
        return _Retry(f"{kind} ({detail})")


def _headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    out = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    out.update(headers or {})
    return out


class HttpClient(_Base):
    """A synchronous client (thread-safe; share one per source)."""

    _client: httpx.Client

    def __init__(
        self,
        *,
        base_url: str = "",
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        transport: httpx.BaseTransport | None = None,
        error_check: ErrorCheck | None = None,
        source: str | None = None,
        secret_params: Iterable[str] = (),
        observe_quota: bool = True,
        follow_redirects: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            retry=retry,
            limiter=limiter,
            error_check=error_check,
            source=source,
            secret_params=secret_params,
            observe_quota=observe_quota,
            seed=seed,
        )
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=base_url,
            auth=auth,
            headers=_headers(headers),
            params=params,
            timeout=timeout,
            transport=transport,
            follow_redirects=follow_redirects,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _attempt(
        self, method: str, url: str, want_json: bool, stream: str | None, kwargs: dict[str, Any]
    ) -> JsonResponse:
        limiter = self.limiter
        if limiter is not None:
            limiter.acquire()
        try:
            self.requests_sent += 1
            response = self._client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise self._transport_failure(exc) from None
        finally:
            if limiter is not None:
                limiter.release()
        return self._check(response, want_json, stream)

    def _send(
        self, method: str, url: str, want_json: bool, stream: str | None, kwargs: dict[str, Any]
    ) -> JsonResponse:
        retrying = tenacity.Retrying(sleep=self._sleep, **self._tenacity_kwargs())
        try:
            return retrying(self._attempt, method, url, want_json, stream, kwargs)
        except tenacity.RetryError as err:
            raise self._give_up(err, method, url, stream, kwargs) from None

    def request(
        self, method: str, url: str, *, stream: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send a request (retried, rate limited); ``kwargs`` are httpx's (params, json…)."""
        return self._send(method.upper(), url, False, stream, kwargs).response

    def request_json(
        self, method: str, url: str, *, stream: str | None = None, **kwargs: Any
    ) -> JsonResponse:
        """Like :meth:`request`, and parse the body as JSON (retried when it is not)."""
        return self._send(method.upper(), url, True, stream, kwargs)

    def get_json(self, url: str, *, stream: str | None = None, **kwargs: Any) -> JsonResponse:
        """``GET`` and parse JSON."""
        return self.request_json("GET", url, stream=stream, **kwargs)

    def post_json(self, url: str, *, stream: str | None = None, **kwargs: Any) -> JsonResponse:
        """``POST`` and parse JSON."""
        return self.request_json("POST", url, stream=stream, **kwargs)


class AsyncHttpClient(_Base):
    """The asyncio twin of :class:`HttpClient`."""

    _client: httpx.AsyncClient

    def __init__(
        self,
        *,
        base_url: str = "",
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        error_check: ErrorCheck | None = None,
        source: str | None = None,
        secret_params: Iterable[str] = (),
        observe_quota: bool = True,
        follow_redirects: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        seed: int | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            retry=retry,
            limiter=limiter,
            error_check=error_check,
            source=source,
            secret_params=secret_params,
            observe_quota=observe_quota,
            seed=seed,
        )
        self._sleep = sleep
        self._client = httpx.AsyncClient(
            base_url=base_url,
            auth=auth,
            headers=_headers(headers),
            params=params,
            timeout=timeout,
            transport=transport,
            follow_redirects=follow_redirects,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def _attempt(
        self, method: str, url: str, want_json: bool, stream: str | None, kwargs: dict[str, Any]
    ) -> JsonResponse:
        if self.limiter is not None:
            async with self.limiter.aslot():
                return await self._attempt_unlimited(method, url, want_json, stream, kwargs)
        return await self._attempt_unlimited(method, url, want_json, stream, kwargs)

    async def _attempt_unlimited(
        self, method: str, url: str, want_json: bool, stream: str | None, kwargs: dict[str, Any]
    ) -> JsonResponse:
        try:
            self.requests_sent += 1
            response = await self._client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise self._transport_failure(exc) from None
        return self._check(response, want_json, stream)

    async def _send(
        self, method: str, url: str, want_json: bool, stream: str | None, kwargs: dict[str, Any]
    ) -> JsonResponse:
        retrying = tenacity.AsyncRetrying(sleep=self._sleep, **self._tenacity_kwargs())
        try:
            return await retrying(self._attempt, method, url, want_json, stream, kwargs)
        except tenacity.RetryError as err:
            raise self._give_up(err, method, url, stream, kwargs) from None

    async def request(
        self, method: str, url: str, *, stream: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send a request (retried, rate limited); ``kwargs`` are httpx's (params, json…)."""
        return (await self._send(method.upper(), url, False, stream, kwargs)).response

    async def request_json(
        self, method: str, url: str, *, stream: str | None = None, **kwargs: Any
    ) -> JsonResponse:
        """Like :meth:`request`, and parse the body as JSON (retried when it is not)."""
        return await self._send(method.upper(), url, True, stream, kwargs)

    async def get_json(self, url: str, *, stream: str | None = None, **kwargs: Any) -> JsonResponse:
        """``GET`` and parse JSON."""
        return await self.request_json("GET", url, stream=stream, **kwargs)

    async def post_json(
        self, url: str, *, stream: str | None = None, **kwargs: Any
    ) -> JsonResponse:
        """``POST`` and parse JSON."""
        return await self.request_json("POST", url, stream=stream, **kwargs)
