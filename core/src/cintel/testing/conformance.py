"""A conformance suite every connector opts into with a few lines.

::

    # tests/test_conformance.py of a connector package
    import pytest
    from cintel.testing import ConnectorConformance, AcmeApi, LoopbackServer

    class TestAcme(ConnectorConformance):
        connector = "acme"                      # registered name, class or manifest path

        @pytest.fixture
        def api(self):                          # a LoopbackServer serving your fake API
            with LoopbackServer(AcmeApi(contacts=250)) as server:
                yield server

        def make_config(self, api):             # a working config for that server
            return {"base_url": api.base_url, "api_token": "acme-secret-token"}

        def make_bad_config(self, api):         # the same with wrong credentials
            return {"base_url": api.base_url, "api_token": "wrong-token"}

        def grow(self, api):                    # optional: add records, say how many per stream
            self.acme.add_contacts(7)  # the AcmeApi your `api` fixture serves
            return {"contacts": 7}

What it checks, one test each: ``check()`` passes with good credentials and
fails clearly (no secret in the message) with bad ones; every stream pages to
the end with its final state; primary keys are present and unique; a second
incremental run fetches only what is new; records map to valid canonical
entities; 429 (with and without ``Retry-After``) and 500/503 are retried so a
read through faults equals a clean read; secrets never appear in reprs, logs
or errors.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any, ClassVar

import pytest
import structlog
from pydantic import BaseModel

from cintel.config import is_manifest_reference
from cintel.http.auth import OAuth2RefreshToken
from cintel.http.client import HttpClient
from cintel.logs import collect_secrets, register_secrets
from cintel.model import validate_rows
from cintel.plugins import Plugins
from cintel.source import Connector, ConnectorContext, Record, Stream
from cintel.state import record_key
from cintel.testing.server import Faults, LoopbackServer

__all__ = ["ConnectorConformance", "read_stream"]


def read_stream(
    stream: Stream, state: Mapping[str, Any] | None = None, *, batch_size: int = 10_000
) -> tuple[list[Record], Mapping[str, Any] | None, int]:
    """Read a whole stream: ``(records, final state, number of batches)``."""
    stream.batch_size = batch_size
    records: list[Record] = []
    final: Mapping[str, Any] | None = state
    batches = 0
    for batch in stream.read(state):
        batches += 1
        records.extend(batch.records)
        if batch.state is not None:
            final = batch.state
    return records, final, batches


class ConnectorConformance:
    """Subclass it in a test module; override the fixture and the ``make_*`` methods."""

    #: A registered connector name, a Connector class, or a manifest path.
    connector: ClassVar[str | type[Connector] | Path]
    #: Streams exempt from the incremental test (full-refresh-only endpoints).
    full_refresh_streams: ClassVar[tuple[str, ...]] = ()
    #: Backoff multiplier during the suite, so fault tests run in seconds.
    backoff_scale: ClassVar[float] = 0.01
    #: Share of requests answered 429 and 500/503 in the fault test.
    fault_rates: ClassVar[tuple[float, float]] = (0.45, 0.3)

    # ---------------------------------------------------------------- to override
    @pytest.fixture
    def api(self) -> LoopbackServer:
        """The API to test against: a started :class:`LoopbackServer` (override it)."""
        raise NotImplementedError("override the `api` fixture with a LoopbackServer")

    def make_config(self, api: LoopbackServer) -> dict[str, Any]:
        """A working connector config for ``api``."""
        raise NotImplementedError

    def make_bad_config(self, api: LoopbackServer) -> dict[str, Any]:
        """The same config with wrong credentials."""
        raise NotImplementedError

    def grow(self, api: LoopbackServer) -> dict[str, int] | None:
        """Add records to the API; return how many each stream should now see as new."""
        return None

    # ---------------------------------------------------------------- plumbing
    @pytest.fixture(autouse=True)
    def _fast_backoff(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(HttpClient, "backoff_scale", self.backoff_scale)
        monkeypatch.setattr(OAuth2RefreshToken, "backoff_scale", self.backoff_scale)

    def connector_class(self) -> type[Connector]:
        """Resolve :attr:`connector` the way ``cintel.yaml`` would."""
        target = self.connector
        if isinstance(target, type):
            return target
        text = str(target)
        if isinstance(target, Path) or is_manifest_reference(text):
            from cintel.declarative import load_connector

            return load_connector(text)
        return Plugins().connector(text)

    def build(self, config: Mapping[str, Any], tmp_path: Path) -> Connector:
        """A connector instance for ``config``, its secrets registered like a pipeline does."""
        cls = self.connector_class()
        cfg: BaseModel = cls.Config.model_validate(
            dict(config), context={"base_dir": tmp_path, "source": "conformance"}
        )
        register_secrets(collect_secrets(cfg))
        return cls(cfg, context=ConnectorContext(source="conformance", base_dir=tmp_path))

    def _secrets(self, connector: Connector) -> list[str]:
        return [s for s in collect_secrets(connector.config) if len(s) >= 4]

    # ---------------------------------------------------------------- the suite
    def test_check_passes_with_good_credentials(self, api: LoopbackServer, tmp_path: Path) -> None:
        connector = self.build(self.make_config(api), tmp_path)
        try:
            result = connector.check()
        finally:
            connector.close()
        assert result.ok, f"check() failed with a working config: {result.message}"

    def test_check_reports_bad_credentials_clearly(
        self, api: LoopbackServer, tmp_path: Path
    ) -> None:
        bad = self.make_bad_config(api)
        connector = self.build(bad, tmp_path)
        try:
            result = connector.check()
        finally:
            connector.close()
        assert not result.ok, "check() passed with wrong credentials"
        text = result.message.lower()
        assert any(w in text for w in ("401", "403", "credential", "token", "key", "auth")), (
            f"check() message does not say the credentials are wrong: {result.message!r}"
        )
        for secret in self._secrets(connector):
            assert secret not in result.message, "check() message shows a secret"

    def test_streams_page_to_the_end(self, api: LoopbackServer, tmp_path: Path) -> None:
        connector = self.build(self.make_config(api), tmp_path)
        try:
            streams = connector.streams()
            assert streams, "the connector offers no streams"
            for stream in streams:
                records, state, _ = read_stream(stream)
                assert records, f"stream {stream.name!r} read no records from the test API"
                # a second read in small batches must give the same records (paging is exact)
                again, _, batches = read_stream(stream, None, batch_size=1)
                assert again == records, f"{stream.name}: a second full read differs"
                assert batches > 1, f"{stream.name}: batch_size=1 still gave a single batch"
                assert state is not None, f"{stream.name}: the read ended without a final state"
        finally:
            connector.close()

    def test_primary_keys_present_and_unique(self, api: LoopbackServer, tmp_path: Path) -> None:
        connector = self.build(self.make_config(api), tmp_path)
        try:
            for stream in connector.streams():
                if not stream.primary_key:
                    continue
                records, _, _ = read_stream(stream)
                keys = [record_key(r, stream.primary_key) for r in records]
                missing = sum(k is None for k in keys)
                assert not missing, f"{stream.name}: {missing} records lack the primary key"
                dupes = len(keys) - len(set(keys))
                assert not dupes, f"{stream.name}: {dupes} duplicate primary keys in one read"
        finally:
            connector.close()

    def test_second_incremental_run_fetches_only_new(
        self, api: LoopbackServer, tmp_path: Path
    ) -> None:
        connector = self.build(self.make_config(api), tmp_path)
        try:
            incremental = [
                s
                for s in connector.streams()
                if s.cursor_field and s.name not in self.full_refresh_streams
            ]
            if not incremental:
                pytest.skip("no incremental streams")
            states = {s.name: read_stream(s)[1] for s in incremental}
            for stream in incremental:
                records, _, _ = read_stream(stream, states[stream.name])
                assert records == [], (
                    f"{stream.name}: a second run with nothing new read {len(records)} records"
                )
            grown = self.grow(api) or {}
            for stream in incremental:
                if stream.name not in grown:
                    continue
                records, _, _ = read_stream(stream, states[stream.name])
                assert len(records) == grown[stream.name], (
                    f"{stream.name}: expected {grown[stream.name]} new records, read {len(records)}"
                )
        finally:
            connector.close()

    def test_records_map_to_valid_canonical_entities(
        self, api: LoopbackServer, tmp_path: Path
    ) -> None:
        connector = self.build(self.make_config(api), tmp_path)
        mapped_any = False
        try:
            for stream in connector.streams():
                records, _, _ = read_stream(stream)
                for table, rows in stream.to_canonical(records).items():
                    mapped_any = mapped_any or bool(rows)
                    _, problems = validate_rows(table, rows)
                    assert not problems, f"{stream.name} -> {table}: {problems[:3]}"
                    for row in rows:
                        index = row.get("_cintel_record_index")
                        assert isinstance(index, int) and 0 <= index < len(records), (
                            f"{stream.name} -> {table}: rows must carry _cintel_record_index"
                        )
        finally:
            connector.close()
        assert mapped_any, "no stream maps any record onto the canonical model"

    @pytest.mark.parametrize("retry_after", [True, False], ids=["retry-after", "no-retry-after"])
    def test_429_and_5xx_are_retried(
        self, api: LoopbackServer, tmp_path: Path, retry_after: bool
    ) -> None:
        connector = self.build(self.make_config(api), tmp_path)
        try:
            clean = {s.name: read_stream(s)[0] for s in connector.streams()}
            rate_429, rate_5xx = self.fault_rates
            api.faults = Faults(
                rate_429=rate_429,
                rate_500=rate_5xx,
                retry_after=retry_after,
                seed=11,
                max_consecutive=2,
            )
            api.reset_stats()
            try:
                faulty = {s.name: read_stream(s)[0] for s in connector.streams()}
            finally:
                api.faults = Faults()
            kinds = {kind for kind, _ in api.fault_log}
            assert "429" in kinds, "no 429 was injected: raise fault_rates or serve more pages"
            assert kinds & {"500", "503"}, "no 5xx was injected: raise fault_rates"
            for name, records in clean.items():
                assert faulty[name] == records, f"{name}: a read through faults differs"
        finally:
            connector.close()

    def test_secrets_never_in_logs_or_reprs(self, api: LoopbackServer, tmp_path: Path) -> None:
        connector = self.build(self.make_config(api), tmp_path)
        bad = self.build(self.make_bad_config(api), tmp_path)
        secrets = self._secrets(connector) + self._secrets(bad)
        assert secrets, "the config declares no secrets (use SecretStr for tokens and keys)"
        err = io.StringIO()
        texts: list[str] = [repr(connector), repr(connector.config), str(connector.config)]
        try:
            with structlog.testing.capture_logs() as logs, redirect_stderr(err):
                api.faults = Faults(rate_429=0.3, rate_500=0.2, seed=5)
                try:
                    for stream in connector.streams():
                        texts.append(repr(stream))
                        read_stream(stream)
                finally:
                    api.faults = Faults()
                texts.append(bad.check().message)
            texts.extend(str(entry) for entry in logs)
            texts.append(err.getvalue())
        finally:
            connector.close()
            bad.close()
        blob = "\n".join(texts)
        for secret in secrets:
            assert secret not in blob, "a secret appears in a repr, a log line or an error"
