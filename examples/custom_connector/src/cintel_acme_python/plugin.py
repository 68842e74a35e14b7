"""The ``acme_python`` connector: Acme CRM contacts over its REST API.

Entry point (pyproject.toml)::

    [project.entry-points.cintel]
    acme_python = "cintel_acme_python.plugin"

The recommended shape of an HTTP connector written in Python:

- a :class:`~cintel.ConnectorConfig` with secrets as ``SecretStr``;
- **one** :class:`~cintel.http.HttpClient` and :class:`~cintel.http.RateLimiter` per
  connector instance, shared by every stream (the engine reads streams in parallel
  threads, and the API's rate limit is per account, not per stream), made on first use
  and released in :meth:`AcmeConnector.close`;
- a cheap :meth:`AcmeConnector.check` that turns an :class:`~cintel.errors.HttpError`
  into a failed :class:`~cintel.CheckResult` (its message names the status, never the token);
- streams built on :class:`~cintel.http.HttpStream`: paging, incremental reads and
  resumable checkpoints come from the toolkit; the stream only says where things are;
- ``to_canonical`` mapping records onto the canonical model (``source_profiles``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cintel import CheckResult, Connector, ConnectorConfig, ConnectorContext, Stream, hookimpl
from cintel.errors import HttpError
from cintel.http import BearerAuth, CursorPaginator, HttpClient, HttpStream, RateLimiter
from pydantic import BaseModel, Field, SecretStr

__all__ = ["AcmeConfig", "AcmeConnector", "Contacts"]

Record = dict[str, Any]


class AcmeConfig(ConnectorConfig):
    """Settings of the Acme CRM source (``sources.<name>.config`` in cintel.yaml)."""

    base_url: str = Field(description="API root without /v1, e.g. https://api.acme.example.")
    api_token: SecretStr = Field(description="Acme API token (Settings > API).")
    page_size: int = Field(100, ge=1, le=100, description="Contacts per request (at most 100).")


class Contacts(HttpStream):
    """``GET /v1/contacts``: cursor paging, incremental on ``updated_at`` (inclusive bound)."""

    name = "contacts"
    path = "/v1/contacts"
    record_path = "data"
    primary_key = ("id",)
    cursor_field = "updated_at"
    cursor_param = "updated_since"

    def __init__(self, client: HttpClient, config: AcmeConfig) -> None:
        super().__init__(client)
        self.params = {"limit": config.page_size}

    def paginator(self) -> CursorPaginator:
        return CursorPaginator(cursor_path="meta.next_cursor", param="cursor")

    def json_schema(self) -> dict[str, Any]:
        text = {"type": ["string", "null"]}
        stamp = {"type": "string", "format": "date-time"}
        return {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "email": text,
                "first_name": text,
                "last_name": text,
                "phone": text,
                "company": text,
                "created_at": stamp,
                "updated_at": stamp,
            },
            "required": ["id", "updated_at"],
            "additionalProperties": True,
        }

    def to_canonical(self, records: Sequence[Record]) -> Mapping[str, Sequence[Record]]:
        rows: list[Record] = []
        for index, rec in enumerate(records):
            identifiers = [
                {"type": kind, "value": str(rec[key])}
                for kind, key in (("email", "email"), ("phone", "phone"), ("acme_id", "id"))
                if rec.get(key) not in (None, "")
            ]
            rows.append(
                {
                    "profile_id": str(rec["id"]),
                    "email": rec.get("email"),
                    "phone": rec.get("phone"),
                    "first_name": rec.get("first_name"),
                    "last_name": rec.get("last_name"),
                    "company": rec.get("company"),
                    "created_at": rec.get("created_at"),
                    "updated_at": rec.get("updated_at"),
                    "identifiers": identifiers,
                    "_cintel_record_index": index,
                }
            )
        return {"source_profiles": rows}


class AcmeConnector(Connector):
    """Acme CRM: contacts, incremental, rate limited to 20 requests a second."""

    name = "acme_python"
    Config = AcmeConfig

    def __init__(self, config: BaseModel, *, context: ConnectorContext) -> None:
        super().__init__(config, context=context)
        assert isinstance(config, AcmeConfig)
        self.settings = config
        self._client: HttpClient | None = None

    @property
    def client(self) -> HttpClient:
        """The HTTP client (and rate limit) every stream of this source shares."""
        if self._client is None:
            self._client = HttpClient(
                base_url=self.settings.base_url.rstrip("/"),
                auth=BearerAuth(self.settings.api_token),
                limiter=RateLimiter(requests=20, per=1, max_concurrency=4),
                source=self.context.source,
            )
        return self._client

    def check(self) -> CheckResult:
        try:
            body = self.client.get_json("/v1/me").body
        except HttpError as exc:
            return CheckResult(False, str(exc))
        account = body.get("account") if isinstance(body, dict) else None
        return CheckResult(True, f"connected to Acme account {account!r}")

    def streams(self) -> list[Stream]:
        return [Contacts(self.client, self.settings)]

    def close(self) -> None:
        """Close the HTTP pool; a later run makes a new client."""
        if self._client is not None:
            self._client.close()
            self._client = None


@hookimpl
def cintel_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(AcmeConnector)
