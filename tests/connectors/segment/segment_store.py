"""A fake object store over loopback HTTP, and the fsspec filesystem that reads it.

The store answers ``GET /ls``, ``/info`` and ``/get`` (with ``Range``) for a
bearer token, like a tiny S3: 401 for a wrong token, 404 for a missing key.
Served by :class:`cintel.testing.LoopbackServer`, it gets the server's fault
injection (429, 500/503), which the filesystem turns into ``OSError`` the way
s3fs or gcsfs do once their own retries are spent. The connector sees it as
any fsspec URL: ``loopstore://bucket/segment-logs/src``.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import fsspec
import httpx
from cintel.testing import Reply, Request
from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

PROTOCOL = "loopstore"
TOKEN = "store-token-3f9a2c71b8"


class FakeStore:
    """Objects by key (``bucket/dir/file``); directories are implied by the keys."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.objects: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def put(self, key: str, data: bytes) -> None:
        with self.lock:
            self.objects[key.strip("/")] = data

    def _entries(self, path: str) -> list[dict[str, Any]] | None:
        path = path.strip("/")
        prefix = path + "/"
        files: dict[str, dict[str, Any]] = {}
        dirs: set[str] = set()
        with self.lock:
            for key, data in self.objects.items():
                if not key.startswith(prefix):
                    continue
                rest = key[len(prefix) :]
                if "/" in rest:
                    dirs.add(prefix + rest.split("/", 1)[0])
                else:
                    files[key] = {
                        "name": key,
                        "size": len(data),
                        "type": "file",
                        "ETag": f'"{abs(hash(data)):x}"',
                    }
        if not files and not dirs:
            return None
        return [*files.values(), *({"name": d, "size": 0, "type": "directory"} for d in dirs)]

    def __call__(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(401, json={"error": "InvalidAccessKeyId"})
        path = request.query.get("path", "").strip("/")
        if request.path == "/ls":
            entries = self._entries(path)
            return (
                Reply(404, json={"error": "NoSuchKey"}) if entries is None else Reply(json=entries)
            )
        if request.path == "/info":
            with self.lock:
                data = self.objects.get(path)
            if data is not None:
                return Reply(
                    json={
                        "name": path,
                        "size": len(data),
                        "type": "file",
                        "ETag": f'"{abs(hash(data)):x}"',
                    }
                )
            if self._entries(path) is None:
                return Reply(404, json={"error": "NoSuchKey"})
            return Reply(json={"name": path, "size": 0, "type": "directory"})
        if request.path == "/get":
            with self.lock:
                data = self.objects.get(path)
            if data is None:
                return Reply(404, json={"error": "NoSuchKey"})
            start, end = 0, len(data) - 1
            if "range" in request.headers:
                a, b = request.headers["range"].removeprefix("bytes=").split("-")
                start, end = int(a), min(int(b), len(data) - 1)
            return Reply(206, body=data[start : end + 1])
        return Reply(404, json={"error": "unknown endpoint"})


class LoopStoreFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """fsspec over :class:`FakeStore`; storage options ``endpoint_url`` and ``token``."""

    protocol = PROTOCOL
    cachable = False
    instances: ClassVar[list[LoopStoreFileSystem]] = []

    def __init__(
        self, endpoint_url: str, token: str, block_size: int = 4096, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.client = httpx.Client(
            base_url=endpoint_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        self.blocksize = block_size
        LoopStoreFileSystem.instances.append(self)

    @classmethod
    def close_all(cls) -> None:
        """Close the HTTP clients of every instance made so far."""
        while cls.instances:
            cls.instances.pop().client.close()

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return path.removeprefix(f"{PROTOCOL}://").rstrip("/")

    def _get(
        self, endpoint: str, path: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        try:
            response = self.client.get(endpoint, params={"path": path}, headers=headers)
        except httpx.TransportError as exc:
            raise ConnectionError(f"store unreachable: {exc}") from exc
        if response.status_code in (401, 403):
            raise PermissionError(f"{response.status_code} {response.json().get('error')}")
        if response.status_code == 404:
            raise FileNotFoundError(path)
        if response.status_code >= 400:
            raise OSError(f"store answered HTTP {response.status_code}")
        return response

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        entries = self._get("/ls", self._strip_protocol(path)).json()
        return entries if detail else [e["name"] for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._get("/info", self._strip_protocol(path)).json()
        return result

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: Any = None,
        **kwargs: Any,
    ) -> LoopStoreFile:
        return LoopStoreFile(self, path, mode, block_size=self.blocksize, cache_type="readahead")


class LoopStoreFile(AbstractBufferedFile):  # type: ignore[misc]
    """Reads ranges of one object."""

    def _fetch_range(self, start: int, end: int) -> bytes:
        if start >= end:
            return b""
        return self.fs._get("/get", self.path, {"Range": f"bytes={start}-{end - 1}"}).content


fsspec.register_implementation(PROTOCOL, LoopStoreFileSystem, clobber=True)
