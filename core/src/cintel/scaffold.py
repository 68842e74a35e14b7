"""``cintel new connector NAME``: a connector package that installs, is discovered
through its entry point and passes its own conformance tests straight away.

The generated connector talks to the fictional Acme CRM API that
:mod:`cintel.testing.server` serves on loopback, so its tests run offline from
the first minute; replace the base URL, auth, paths and mapping with your API's.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import cintel

__all__ = ["new_connector"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _cintel_requirement() -> tuple[str, str]:
    """``(dependency, [tool.uv.sources] block)``: a local checkout is used by path."""
    core = Path(cintel.__file__).resolve().parents[2]
    pyproject = core / "pyproject.toml"
    if pyproject.exists() and 'name = "cintel"' in pyproject.read_text():
        return "cintel", f'\n[tool.uv.sources]\ncintel = {{ path = "{core}", editable = true }}\n'
    return f"cintel>={cintel.__version__}", ""


_PYPROJECT = """\
[project]
name = "cintel-{dist}"
version = "0.1.0"
description = "cintel connector for {title}"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["{requirement}"]

[project.entry-points.cintel]
{name} = "cintel_{name}.plugin"

[dependency-groups]
dev = ["pytest>=8.3", "respx>=0.22"]

[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/cintel_{name}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
filterwarnings = ["error"]
{sources}"""

_PLUGIN_PY = '''\
"""cintel plugin: registers the {title} connector (entry point group ``cintel``)."""

from cintel import hookimpl

from cintel_{name}.connector import {cls}Connector


@hookimpl
def cintel_connectors(register):
    register({cls}Connector)
'''

_CONNECTOR_PY = '''\
"""The {title} connector: config, connection check and streams.

Written against the fictional Acme CRM API that ``cintel.testing`` serves, so
the conformance tests pass from the start: replace the paths, paging and
mapping with your API's (see docs/writing-a-connector.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field, SecretStr

from cintel import CheckResult, Connector, ConnectorConfig, HttpError, Stream
from cintel.http import BearerAuth, CursorPaginator, HttpClient, HttpStream, RateLimiter


class {cls}Config(ConnectorConfig):
    """Settings users give under ``config:`` in cintel.yaml."""

    base_url: str = Field(description="API root URL.")
    api_token: SecretStr = Field(description="API token (never logged).")
    page_size: int = Field(100, ge=1, le=100, description="Records per request.")


class Contacts(HttpStream):
    """Contacts, incremental on ``updated_at`` (the API filters inclusively)."""

    name = "contacts"
    path = "/v1/contacts"
    record_path = "data"
    primary_key = ("id",)
    cursor_field = "updated_at"
    cursor_param = "updated_since"

    def __init__(self, client: HttpClient, page_size: int) -> None:
        super().__init__(client)
        self.params = {{"limit": page_size}}

    def paginator(self) -> CursorPaginator:
        return CursorPaginator(cursor_path="meta.next_cursor", param="cursor")

    def to_canonical(self, records: Sequence[dict[str, Any]]) -> Mapping[str, list[dict[str, Any]]]:
        rows = []
        for index, r in enumerate(records):
            identifiers = [
                {{"type": kind, "value": str(r[field])}}
                for kind, field in (("email", "email"), ("phone", "phone"), ("{name}_id", "id"))
                if r.get(field)
            ]
            rows.append(
                {{
                    "profile_id": r["id"],
                    "email": r.get("email"),
                    "phone": r.get("phone"),
                    "first_name": r.get("first_name"),
                    "last_name": r.get("last_name"),
                    "company": r.get("company"),
                    "created_at": r.get("created_at"),
                    "updated_at": r.get("updated_at"),
                    "identifiers": identifiers,
                    "_cintel_record_index": index,
                }}
            )
        return {{"source_profiles": rows}}


class {cls}Connector(Connector):
    """{title}."""

    name = "{name}"
    Config = {cls}Config

    def __init__(self, config: {cls}Config, *, context: Any) -> None:
        super().__init__(config, context=context)
        # one limiter per source: every stream shares the API's budget
        self._limiter = RateLimiter(requests=20, per=1.0, max_concurrency=4)
        self._client: HttpClient | None = None

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            cfg = self.config
            assert isinstance(cfg, {cls}Config)
            self._client = HttpClient(
                base_url=cfg.base_url,
                auth=BearerAuth(cfg.api_token),
                limiter=self._limiter,
                source=self.context.source,
            )
        return self._client

    def check(self) -> CheckResult:
        try:
            self.client.get_json("/v1/me")
        except HttpError as exc:
            return CheckResult(False, str(exc))
        return CheckResult(True, "connected")

    def streams(self) -> list[Stream]:
        cfg = self.config
        assert isinstance(cfg, {cls}Config)
        return [Contacts(self.client, cfg.page_size)]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
'''

_DECLARATIVE_PLUGIN_PY = '''\
"""cintel plugin: the {title} connector, defined in manifest.yaml alone."""

from pathlib import Path

from cintel import hookimpl
from cintel.declarative import load_connector


@hookimpl
def cintel_connectors(register):
    register(load_connector(Path(__file__).with_name("manifest.yaml")))
'''

_MANIFEST = """\
# yaml-language-server: $schema=https://cintel.dev/schema/declarative-manifest.json
# The {title} connector in YAML alone. It targets the fictional Acme CRM API that
# cintel.testing serves, so its tests pass at once: change base_url, auth, paths,
# paging and the canonical mapping to your API's (docs/declarative.md).
version: 1
name: {name}
description: {title}
config:
  base_url: {{type: string, required: true, description: API root URL.}}
  api_token: {{type: string, secret: true, required: true, description: API token.}}
  page_size: {{type: integer, default: 100, description: Records per request.}}
base_url: "{{{{ config.base_url }}}}"
auth:
  type: bearer
  token: "{{{{ config.api_token }}}}"
rate_limit: {{requests: 20, per: 1, max_concurrency: 4}}
check: {{path: /v1/me}}
streams:
  - name: contacts
    path: /v1/contacts
    params: {{limit: "{{{{ config.page_size }}}}"}}
    record_path: data
    primary_key: [id]
    paginator: {{type: cursor, cursor_path: meta.next_cursor, param: cursor}}
    incremental: {{cursor_field: updated_at, param: updated_since}}
    canonical:
      - table: source_profiles
        fields:
          profile_id: id
          email: email
          phone: phone
          first_name: first_name
          last_name: last_name
          company: company
          created_at: created_at
          updated_at: updated_at
        identifiers: {{email: email, phone: phone, {name}_id: id}}
"""

_TEST = '''\
"""The cintel conformance suite over this connector, against a loopback fake API."""

import pytest

from cintel.testing import AcmeApi, ConnectorConformance, LoopbackServer


class Test{cls}Conformance(ConnectorConformance):
    connector = "{name}"

    @pytest.fixture
    def api(self):
        # Replace AcmeApi with a handler that answers like your API (see cintel.testing.server)
        self.acme = AcmeApi(contacts=120)
        with LoopbackServer(self.acme) as server:
            yield server

    def make_config(self, api):
        return {{"base_url": api.base_url, "api_token": self.acme.token, "page_size": 25}}

    def make_bad_config(self, api):
        return {{"base_url": api.base_url, "api_token": "wrong-token", "page_size": 25}}

    def grow(self, api):
        self.acme.add_contacts(5)
        return {{"contacts": 5}}
'''

_README = """\
# cintel-{dist}

A [cintel](https://github.com/cintel/cintel) connector for {title}{kind}.

```bash
uv run pytest                 # the conformance suite against a loopback fake API
uv run cintel plugins         # lists `{name}`
```

Use it in `cintel.yaml`:

```yaml
sources:
  {name}:
    connector: {name}
    config:
      base_url: https://api.example.com
      api_token: ${{{upper}_TOKEN}}
```

Next steps: point it at your API (paths, paging, auth), map records onto the
canonical model, and keep `tests/test_conformance.py` green
(docs/writing-a-connector.md walks through it).
"""


def new_connector(name: str, directory: Path, *, declarative: bool = False) -> Path:
    """Write a connector package for ``name`` into ``directory/cintel-<name>``; returns it."""
    if not _NAME.match(name):
        raise ValueError(f"connector name {name!r} must start with a letter and use a-z, 0-9 and _")
    dist = name.replace("_", "-")
    root = directory / f"cintel-{dist}"
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} already exists and is not empty")
    cls = "".join(part.title() for part in name.split("_"))
    title = f"{cls} (generated)"
    requirement, sources = _cintel_requirement()
    values = {
        "name": name,
        "dist": dist,
        "cls": cls,
        "title": title,
        "requirement": requirement,
        "sources": sources,
        "upper": name.upper(),
        "kind": " (declarative)" if declarative else "",
    }
    package = root / "src" / f"cintel_{name}"
    files: dict[Path, str] = {
        root / "pyproject.toml": _PYPROJECT,
        root / "README.md": _README,
        root / "tests" / "test_conformance.py": _TEST,
        package / "__init__.py": '"""cintel connector package."""\n',
        package / "py.typed": "",
    }
    if declarative:
        files[package / "plugin.py"] = _DECLARATIVE_PLUGIN_PY
        files[package / "manifest.yaml"] = _MANIFEST
    else:
        files[package / "plugin.py"] = _PLUGIN_PY
        files[package / "connector.py"] = _CONNECTOR_PY
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(template).format(**values) if template else "")
    return root
