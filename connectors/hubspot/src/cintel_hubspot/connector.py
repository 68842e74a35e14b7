"""The ``hubspot`` connector: config, clients, check and streams."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import httpx
from cintel import CheckResult, Connector, ConnectorContext, Stream
from cintel.errors import AuthError, HttpError
from cintel.http import BearerAuth, HttpClient, RateLimiter, RetryPolicy
from pydantic import BaseModel

from cintel_hubspot.config import HubSpotConfig, ObjectType
from cintel_hubspot.limits import (
    DailyLimitError,
    HubSpotLimiter,
    HubSpotQuota,
    explain_auth_error,
)
from cintel_hubspot.streams import (
    CompaniesStream,
    ContactsStream,
    DealsStream,
    ObjectStream,
    OwnersStream,
    utc_now,
)

__all__ = ["HubSpotConnector"]

_STREAMS: dict[ObjectType, type[ObjectStream]] = {
    "contacts": ContactsStream,
    "companies": CompaniesStream,
    "deals": DealsStream,
}


class HubSpotConnector(Connector):
    """HubSpot CRM: contacts, companies, deals (with associations) and owners.

    ``sleep``, ``clock`` and ``now`` are injectable for tests (retry and rate-limit
    waits, the limiter's monotonic clock, the wall clock of the search bound);
    ``transport`` replaces httpx's (a cassette, ``httpx.MockTransport``).
    """

    name = "hubspot"
    Config = HubSpotConfig

    def __init__(
        self,
        config: BaseModel,
        *,
        context: ConnectorContext,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(config, context=context)
        if not isinstance(config, HubSpotConfig):
            raise TypeError(f"expected a HubSpotConfig, got {type(config).__name__}")
        self.settings = config
        self.sleep = sleep
        self.clock = clock
        self.now = now
        self.transport = transport
        self.quota = HubSpotQuota(reserve=config.daily_reserve)
        self._client: HttpClient | None = None
        self._search_client: HttpClient | None = None

    # -- clients ------------------------------------------------------------------------
    def _make_client(self, limiter: RateLimiter) -> HttpClient:
        cfg = self.settings
        return HttpClient(
            base_url=cfg.base_url,
            auth=BearerAuth(cfg.access_token),
            timeout=cfg.timeout,
            retry=RetryPolicy(retry_after=self.quota.retry_wait, max_wait=cfg.max_retry_wait),
            limiter=limiter,
            transport=self.transport,
            error_check=self.quota.observe,
            source=self.context.source,
            sleep=self.sleep,
        )

    def _clients(self) -> tuple[HttpClient, HttpClient]:
        if self._client is None or self._search_client is None:
            cfg = self.settings
            general = HubSpotLimiter(
                quota=self.quota,
                requests=cfg.requests_per_10_seconds,
                per=10.0,
                max_concurrency=cfg.max_concurrency,
                # hold every stream for the interval once Remaining is down to what
                # may already be in flight
                reserve=cfg.max_concurrency,
                clock=self.clock,
                sleep=self.sleep,
            )
            search = HubSpotLimiter(
                quota=self.quota,
                parent=general,
                requests=cfg.search_requests_per_second,
                per=1.0,
                max_concurrency=cfg.max_concurrency,
                reserve=cfg.max_concurrency,
                clock=self.clock,
                sleep=self.sleep,
            )
            self._client = self._make_client(general)
            self._search_client = self._make_client(search)
        return self._client, self._search_client

    @property
    def client(self) -> HttpClient:
        """The client of list, associations and owners requests (shared by every stream)."""
        return self._clients()[0]

    @property
    def search_client(self) -> HttpClient:
        """The client of search requests: the search limit inside the general one."""
        return self._clients()[1]

    # -- the contract -------------------------------------------------------------------
    def check(self) -> CheckResult:
        """One list request of one record, of the first enabled stream."""
        objects = list(self.settings.objects())
        path = f"/crm/v3/objects/{objects[0]}" if objects else "/crm/v3/owners"
        try:
            self.client.get_json(path, params={"limit": 1, "archived": "false"})
        except AuthError as exc:
            return CheckResult(False, str(explain_auth_error(exc)))
        except (DailyLimitError, HttpError) as exc:
            if self.quota.exhausted:
                daily = self.quota.error(source=self.context.source, stream=None)
                return CheckResult(False, str(daily))
            return CheckResult(False, str(exc))
        what = objects[0] if objects else "owners"
        quota = ""
        if self.quota.remaining is not None:
            of = f" of {self.quota.limit:,}" if self.quota.limit else ""
            quota = f"; {self.quota.remaining:,}{of} requests left today"
        return CheckResult(True, f"connected to HubSpot ({what} readable{quota})")

    def streams(self) -> list[Stream]:
        cfg = self.settings
        client, search = self._clients()
        out: list[Stream] = [
            _STREAMS[name](
                name,
                section,
                cfg,
                client=client,
                search_client=search,
                quota=self.quota,
                now=lambda: self.now(),
            )
            for name, section in cfg.objects().items()
        ]
        if cfg.owners.enabled:
            out.append(OwnersStream(client, self.quota, page_size=cfg.page_size))
        return out

    def close(self) -> None:
        """Close the HTTP pools and forget the daily quota seen (a later run asks again)."""
        for client in (self._client, self._search_client):
            if client is not None:
                client.close()
        self._client = self._search_client = None
        self.quota.reset()
