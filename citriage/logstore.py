"""Stored logs: zstd-compressed stripped text behind an fsspec URL (local folder, s3://, ...).

An S3-compatible store other than AWS is named by CITRIAGE_LOG_STORE_ENDPOINT; its
credentials come from the usual AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
A write that fails (the store unreachable, refusing) raises LogStoreError, and the
store is taken as down for a while in this process: log fetches are deferred without
downloading anything until then (citriage.ci.fetching).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import time
from typing import Any

import fsspec
import zstandard
from django.conf import settings

from citriage.scanner.logtext import LogText

ZSTD_LEVEL = 6
DOWN_SECONDS = 30.0  # after a failed write, the store is taken as down this long
# Timeouts and retries of the S3 client: an outage answers within seconds, not minutes.
S3_CONFIG = {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 3}}


class LogStoreError(Exception):
    """The log store could not be written to (unreachable, refusing): try again later."""


class LogStore:
    def __init__(self, url: str, endpoint: str = "") -> None:
        self.url = url
        self.down_until = 0.0
        options: dict[str, Any] = {}
        if url.startswith("file:"):
            options["auto_mkdir"] = True
        elif url.startswith(("s3:", "s3a:")):
            options["config_kwargs"] = S3_CONFIG
            if endpoint:
                options["endpoint_url"] = endpoint
        self.fs, self.root = fsspec.core.url_to_fs(url, **options)

    def _path(self, key: str) -> str:
        return f"{self.root.rstrip('/')}/{key}"

    def available(self) -> bool:
        """False for a while after a write failed (writes would most likely fail too)."""
        return time.monotonic() >= self.down_until

    def put(self, key: str, text: bytes) -> int:
        """Store `text` under `key`; returns the compressed size."""
        compressed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(text)
        try:
            self.fs.pipe_file(self._path(key), compressed)
        except Exception as exc:  # fsspec backends raise their own kinds
            self.down_until = time.monotonic() + DOWN_SECONDS
            problem = f"{type(exc).__name__}: {exc}"
            raise LogStoreError(f"the log store refused {key}: {problem}") from exc
        self.down_until = 0.0
        return len(compressed)

    def get(self, key: str) -> bytes:
        compressed = self.fs.cat_file(self._path(key))
        return zstandard.ZstdDecompressor().decompressobj().decompress(compressed)

    def get_compressed(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(self._path(key)))

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(key))

    def create(self) -> None:
        """Make the store's root (an S3 bucket, a folder) if it is missing."""
        if not self.fs.exists(self.root):
            self.fs.makedirs(self.root, exist_ok=True)


@functools.cache
def _store(url: str, endpoint: str) -> LogStore:
    return LogStore(url, endpoint)


def log_store() -> LogStore:
    return _store(settings.LOG_STORE_URL, settings.LOG_STORE_ENDPOINT)


def checksum(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


def load_text(key: str, line_count: int | None = None) -> LogText:
    """A stored log as a LogText (already stripped: no second pass)."""
    log = LogText(data=log_store().get(key))
    if line_count is not None:
        log._line_count = line_count
    return log
