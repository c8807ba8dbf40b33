"""Stored logs: zstd-compressed stripped text behind an fsspec URL (local folder, s3://, ...)."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import fsspec
import zstandard
from django.conf import settings

from citriage.scanner.logtext import LogText

ZSTD_LEVEL = 6


class LogStore:
    def __init__(self, url: str) -> None:
        self.url = url
        options: dict[str, Any] = {"auto_mkdir": True} if url.startswith("file:") else {}
        self.fs, self.root = fsspec.core.url_to_fs(url, **options)

    def _path(self, key: str) -> str:
        return f"{self.root.rstrip('/')}/{key}"

    def put(self, key: str, text: bytes) -> int:
        """Store `text` under `key`; returns the compressed size."""
        compressed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(text)
        self.fs.pipe_file(self._path(key), compressed)
        return len(compressed)

    def get(self, key: str) -> bytes:
        compressed = self.fs.cat_file(self._path(key))
        return zstandard.ZstdDecompressor().decompressobj().decompress(compressed)

    def get_compressed(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(self._path(key)))

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def delete(self, key: str) -> None:
        if self.exists(key):
            self.fs.rm_file(self._path(key))


@functools.cache
def _store(url: str) -> LogStore:
    return LogStore(url)


def log_store() -> LogStore:
    return _store(settings.LOG_STORE_URL)


def checksum(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


def load_text(key: str, line_count: int | None = None) -> LogText:
    """A stored log as a LogText (already stripped: no second pass)."""
    log = LogText(data=log_store().get(key))
    if line_count is not None:
        log._line_count = line_count
    return log
