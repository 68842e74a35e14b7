"""The ``responses`` stream: every response of every configured (or listed) form.

One child stream per form (:class:`~cintel.http.PartitionedStream`), each with its
own state. A form is walked newest first, ``before=<token of the last response>``,
until a page comes back with no ``items``. Incremental reads ask for
``since=<newest submitted_at already read - overlap>`` (inclusive, whole seconds):
Typeform may list a response up to about 30 minutes after it was submitted, so the
overlap window is read again on every sync and the responses in it that were
already loaded are dropped by ``response_id``. The state of one form::

    {"watermark": "2024-05-01T12:03:10Z",            # newest submitted_at loaded
     "recent": {"<response_id>": "<submitted_at>"},  # ids inside the overlap window
     "walk": {...}}                                  # only while a walk is unfinished

``walk`` holds the fixed lower bound of the walk, the next page request (the
``before`` token, separate from the checkpoint) and the newest value seen so far,
so a killed sync resumes on the page it stopped at.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import orjson
import structlog
from cintel import BadRecord, RecordBatch, ResponseError, Stream
from cintel.errors import HttpError
from cintel.http import (
    HttpClient,
    JsonResponse,
    PageRequest,
    Partition,
    PartitionedStream,
    PathNotFound,
    TokenPaginator,
    parse_datetime,
    redact_url,
    select_required,
)
from cintel.logs import redact

from cintel_typeform.config import TypeformConfig
from cintel_typeform.mapping import map_responses

__all__ = ["MAX_RECENT", "FormResponses", "Responses", "form_scales"]

log = structlog.get_logger("cintel.typeform")

Record = dict[str, Any]
#: At most this many response ids are kept for the overlap window of one form; past
#: it the oldest are forgotten and may be loaded again (``merge`` keeps one row each).
MAX_RECENT = 20_000

_SCALE_TYPES = frozenset({"opinion_scale", "rating", "nps"})


def _obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def form_scales(definition: Any) -> dict[str, dict[str, Any]]:
    """``{field id: {type, ref, min, max}}`` of the scale questions of a form definition.

    Reads ``GET /forms/{id}``: opinion scales (``steps``, ``start_at_one``), ratings
    (``steps``, from 1) and NPS fields (0-10), also inside question groups.
    """
    out: dict[str, dict[str, Any]] = {}

    def walk(fields: Any) -> None:
        if not isinstance(fields, list):
            return
        for field in fields:
            if not isinstance(field, dict):
                continue
            props = _obj(field.get("properties"))
            kind = field.get("type")
            if kind in _SCALE_TYPES and field.get("id"):
                if kind == "nps":
                    low, high = 0, 10
                elif kind == "rating":
                    low, high = 1, _int(props.get("steps"), 5)
                else:
                    low = 1 if props.get("start_at_one") else 0
                    high = low + _int(props.get("steps"), 11) - 1
                out[str(field["id"])] = {
                    "type": kind,
                    "ref": field.get("ref"),
                    "min": low,
                    "max": high,
                }
            walk(props.get("fields"))  # question groups

    walk(_obj(definition).get("fields"))
    return out


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _second(when: datetime) -> datetime:
    return when.replace(microsecond=0)


class FormResponses(Stream):
    """The responses of one form (a partition of :class:`Responses`)."""

    name = "responses"
    primary_key = ("form_id", "response_id")
    cursor_field = "submitted_at"

    def __init__(
        self,
        client: HttpClient,
        form_id: str,
        *,
        page_size: int,
        overlap: timedelta,
        start: datetime | None,
        scales: Callable[[str], dict[str, dict[str, Any]]] | None,
        missing_ok: bool,
    ) -> None:
        self.client = client
        self.form_id = form_id
        self.page_size = page_size
        self.overlap = overlap
        self.start = start
        self._scales_of = scales
        self._scales: dict[str, dict[str, Any]] | None = None
        self.missing_ok = missing_ok

    def __repr__(self) -> str:
        return f"<FormResponses form={self.form_id!r}>"

    # ------------------------------------------------------------------ helpers
    def _cutoff(self, newest: Any) -> datetime | None:
        """Oldest ``submitted_at`` the next query returns: ``newest - overlap``, whole seconds."""
        when = parse_datetime(newest)
        return None if when is None else _second(when - self.overlap)

    def _since(self, watermark: Any) -> int | None:
        cutoff = self._cutoff(watermark)
        if cutoff is None:
            cutoff = self.start
        return None if cutoff is None else math.floor(cutoff.timestamp())

    def _keep(self, ids: Mapping[str, Any], newest: Any) -> dict[str, Any]:
        """The ids at or after the cutoff of ``newest``, the newest :data:`MAX_RECENT` of them."""
        cutoff = self._cutoff(newest)
        if cutoff is None:
            return {}
        dated = [(when, rid, ts) for rid, ts in ids.items() if (when := parse_datetime(ts))]
        kept = [(when, rid, ts) for when, rid, ts in dated if when >= cutoff]
        if len(kept) > MAX_RECENT:
            kept.sort(key=lambda t: (t[0], t[1]), reverse=True)
            kept = kept[:MAX_RECENT]
        return {rid: ts for _, rid, ts in kept}

    def _items(self, page: JsonResponse) -> list[Any]:
        try:
            items = select_required(page.body, "items")
        except PathNotFound as missing:
            raise self._bad_page(
                page, f"no 'items' in the response ({missing.available})"
            ) from None
        if items is None:
            return []
        if not isinstance(items, list):
            raise self._bad_page(page, f"'items' is a {type(items).__name__}, not a list")
        return items

    def _bad_page(self, page: JsonResponse, message: str) -> ResponseError:
        return ResponseError(
            f"form {self.form_id}: {message}",
            method=page.response.request.method,
            url=redact_url(page.response.request.url),
            status=page.response.status_code,
            body=redact(" ".join(page.response.text.split())[:300]),
            source=self.client.source,
            stream=self.name,
        )

    def _scales_for_form(self) -> dict[str, dict[str, Any]]:
        if self._scales is None:
            self._scales = self._scales_of(self.form_id) if self._scales_of else {}
        return self._scales

    # ------------------------------------------------------------------ reading
    def read(self, state: Mapping[str, Any] | None) -> Iterator[RecordBatch]:
        state = dict(state or {})
        watermark = state.get("watermark")
        recent: dict[str, Any] = dict(state.get("recent") or {})
        paginator = TokenPaginator(
            param="before",
            token_field="token",  # noqa: S106 - the response token, not a password
            limit_param="page_size",
            limit=self.page_size,
        )
        walk = state.get("walk")
        if walk:  # a walk a killed sync left unfinished: same bound, next page
            since = walk.get("since")
            request = PageRequest.from_state(walk.get("page") or {})
            newest = walk.get("newest", watermark)
            seen: dict[str, Any] = dict(walk.get("seen") or {})
        else:
            since = self._since(watermark)
            request = paginator.first()
            newest = watermark
            seen = {}
        newest_at = parse_datetime(newest)
        path = f"/forms/{quote(self.form_id, safe='')}/responses"
        pending: list[Record] = []
        bad: list[BadRecord] = []
        while True:
            params = dict(request.params)
            if since is not None:
                params["since"] = since
            try:
                page = self.client.get_json(path, params=params, stream=self.name)
            except HttpError as exc:
                if exc.status == 404 and self.missing_ok:
                    log.warning(
                        "form not found, skipped",
                        source=self.client.source,
                        form_id=self.form_id,
                    )
                    kept = {"watermark": watermark, "recent": recent} if watermark else None
                    yield RecordBatch(pending, state=kept, bad=bad)
                    return
                raise
            items = self._items(page)
            next_request = paginator.next(page, [i for i in items if isinstance(i, dict)])
            for item in items:
                if not isinstance(item, dict):
                    bad.append(BadRecord(orjson.dumps(item).decode(), "response is not an object"))
                    continue
                rid = item.get("response_id") or item.get("token")
                if not isinstance(rid, str) or not rid:
                    reason = f"form {self.form_id}: response without a response_id"
                    bad.append(BadRecord(orjson.dumps(item).decode(), reason))
                    continue
                submitted = item.get("submitted_at")
                when = parse_datetime(submitted)
                if when is not None:
                    if newest_at is None or when > newest_at:
                        newest, newest_at = submitted, when
                    seen[rid] = submitted
                if rid in recent:
                    continue  # read by an earlier sync (the overlap window)
                record = dict(item)
                record["response_id"] = rid
                record["form_id"] = self.form_id
                scales = self._scales_for_form()
                if scales:
                    record["form_scales"] = scales
                pending.append(record)
            seen = self._keep(seen, newest)
            if next_request is None:
                final = {"watermark": newest, "recent": self._keep({**recent, **seen}, newest)}
                yield RecordBatch(pending, state=final, bad=bad)
                return
            if len(pending) + len(bad) >= self.batch_size:
                checkpoint = {
                    "watermark": watermark,
                    "recent": recent,
                    "walk": {
                        "since": since,
                        "page": next_request.to_state(),
                        "newest": newest,
                        "seen": dict(seen),
                    },
                }
                yield RecordBatch(pending, state=checkpoint, bad=bad)
                pending, bad = [], []
            request = next_request


class Responses(PartitionedStream):
    """``responses``: one :class:`FormResponses` per form, state per form."""

    name = "responses"
    primary_key = ("form_id", "response_id")
    cursor_field = "submitted_at"

    def __init__(
        self,
        client: HttpClient,
        config: TypeformConfig,
        *,
        list_forms: Callable[[], Iterable[Record]],
    ) -> None:
        self.client = client
        self.config = config
        self._list_forms = list_forms

    def __repr__(self) -> str:
        return f"<Responses forms={self.config.form_ids or 'all'!r}>"

    def partitions(self) -> Iterator[Partition]:
        if self.config.form_ids:
            for form_id in self.config.form_ids:
                yield Partition(form_id)
            return
        for form in self._list_forms():
            key = form.get("id")
            if isinstance(key, str) and key:
                yield Partition(key, form)

    def child(self, partition: Partition) -> FormResponses:
        cfg = self.config
        return FormResponses(
            self.client,
            partition.key,
            page_size=cfg.page_size,
            overlap=timedelta(minutes=cfg.overlap_minutes),
            start=parse_datetime(cfg.start_date),
            scales=self._scales if cfg.detect_scores else None,
            missing_ok=not cfg.form_ids,  # a listed form deleted since: skipped
        )

    def _scales(self, form_id: str) -> dict[str, dict[str, Any]]:
        path = f"/forms/{quote(form_id, safe='')}"
        return form_scales(self.client.get_json(path, stream=self.name).body)

    def json_schema(self) -> dict[str, Any]:
        text = {"type": ["string", "null"]}
        return {
            "type": "object",
            "properties": {
                "form_id": {"type": "string"},
                "response_id": {"type": "string"},
                "token": {"type": "string"},
                "landing_id": text,
                "response_type": text,
                "landed_at": {"type": "string", "format": "date-time"},
                "submitted_at": {"type": "string", "format": "date-time"},
                "metadata": {"type": "object"},
                "hidden": {"type": "object"},
                "calculated": {"type": "object"},
                "variables": {"type": "array"},
                "answers": {"type": "array"},
                "form_scales": {"type": "object"},
            },
            "required": ["form_id", "response_id"],
            "additionalProperties": True,
        }

    def to_canonical(self, records: Sequence[Record]) -> Mapping[str, Sequence[Record]]:
        return map_responses(records, self.config)
