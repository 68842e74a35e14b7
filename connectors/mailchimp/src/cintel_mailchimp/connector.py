"""The ``mailchimp`` connector: audience members, campaigns and email activity.

One :class:`~cintel.http.HttpClient` per source, basic auth with the API key (any
user name), the data centre from the key's suffix. Mailchimp limits a user to 10
simultaneous connections and sends no rate headers: the client's
:class:`~cintel.http.RateLimiter` bounds requests in flight to ``max_connections``
across every stream of the source, and so does the connection pool; a 429
(problem+json, no ``Retry-After``) is retried with exponential backoff. The
transport, clock, sleep and ``now`` are injectable for tests (keyword-only).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from cintel import AuthError, CheckResult, Connector, ConnectorContext, HttpError, Stream
from cintel.http import BasicAuth, HttpClient, RateLimiter, RetryPolicy
from pydantic import BaseModel

from cintel_mailchimp.config import MailchimpConfig
from cintel_mailchimp.streams import Campaigns, EmailActivity, Members, explain, problem

__all__ = ["MailchimpConfig", "MailchimpConnector"]

#: Mailchimp ignores the user name of basic auth; the key is the password.
USERNAME = "cintel"


def _utcnow() -> datetime:
    return datetime.now(tz=UTC)


class MailchimpConnector(Connector):
    """Mailchimp Marketing API v3: members, campaigns, opens/clicks/bounces."""

    name = "mailchimp"
    Config = MailchimpConfig

    def __init__(
        self,
        config: BaseModel,
        *,
        context: ConnectorContext,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        super().__init__(config, context=context)
        if not isinstance(config, MailchimpConfig):
            raise TypeError(f"expected a MailchimpConfig, got {type(config).__name__}")
        self.settings = config
        self._transport = transport
        self._clock = clock
        self._sleep = sleep
        self._now = now
        self._client: HttpClient | None = None

    @property
    def client(self) -> HttpClient:
        """The HTTP client (and connection bound) every stream of this source shares."""
        if self._client is None:
            cfg = self.settings
            n = cfg.max_connections
            transport = self._transport or httpx.HTTPTransport(
                limits=httpx.Limits(max_connections=n, max_keepalive_connections=n)
            )
            self._client = HttpClient(
                base_url=cfg.api_root(),
                auth=BasicAuth(USERNAME, cfg.api_key),
                timeout=cfg.timeout,
                # 429 comes without Retry-After or rate headers: exponential backoff
                retry=RetryPolicy(backoff_initial=1.0),
                limiter=RateLimiter(max_concurrency=n, clock=self._clock, sleep=self._sleep),
                transport=transport,
                sleep=self._sleep,
                source=self.context.source,
            )
        return self._client

    def check(self) -> CheckResult:
        """``GET /ping``: one cheap call that needs a valid key and the right data centre."""
        try:
            self.client.get_json("/ping")
        except AuthError as exc:
            return CheckResult(False, self._auth_message(exc))
        except HttpError as exc:
            hint = ""
            if exc.status is None and not self.settings.base_url:
                hint = "; check the data centre at the end of the API key (like -us6)"
            return CheckResult(False, f"{explain(exc)}{hint}")
        return CheckResult(True, f"connected to Mailchimp at {self.client.base_url}")

    def _auth_message(self, exc: AuthError) -> str:
        said = problem(exc.body)
        detail = f" ({said})" if said else ""
        if exc.status == 403:
            return (
                f"Mailchimp refused access with this API key (HTTP 403){detail}: "
                "the account or key may be disabled"
            )
        return (
            f"Mailchimp rejected the API key (HTTP {exc.status}){detail}: check `api_key` "
            "(Profile > Extras > API keys); the part after its last dash must be the "
            "account's data centre"
        )

    def streams(self) -> list[Stream]:
        return [
            Members(self.client, self.settings),
            Campaigns(self.client, self.settings),
            EmailActivity(self.client, self.settings, now=self._now),
        ]

    def close(self) -> None:
        """Close the HTTP pool; a later run makes a new client."""
        if self._client is not None:
            self._client.close()
            self._client = None
