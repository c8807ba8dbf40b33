"""Results that cost tens of milliseconds to work out and never change for a given input,
kept on disk between runs of the command line (a `citriage scan` pays for them at every
start otherwise): compiled Hyperscan databases, the characters of `\\w` and `\\d`.

Each entry is a file named by a hash of what it was made from (including the versions
that shape it), written whole and renamed into place, so that a reader sees an entry
whole or not at all. Nothing here is needed: when the directory cannot be written or an
entry cannot be read back, the value is worked out again.

The directory: `CITRIAGE_CACHE_DIR`, else `$XDG_CACHE_HOME/citriage`, else
`~/.cache/citriage`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# Bumped when what an entry holds changes shape.
FORMAT = "1"


def directory() -> Path:
    explicit = os.environ.get("CITRIAGE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "citriage"


def key_of(*parts: object) -> str:
    """A file name for what an entry is made from (and the Python that made it)."""
    digest = hashlib.sha256(repr((FORMAT, sys.version, parts)).encode()).hexdigest()
    return digest[:40]


def cached(
    kind: str,
    key: str,
    make: Callable[[], T],
    dump: Callable[[T], bytes],
    load: Callable[[bytes], T],
) -> T:
    """The value of `make()`, read from the entry `kind-key` when one is there and `load`
    takes it (any exception: made again), else made and written for the next run."""
    path = directory() / f"{kind}-{key}"
    try:
        return load(path.read_bytes())
    except Exception:  # missing, unreadable or from another version: made again
        pass
    value = make()
    with contextlib.suppress(OSError):  # a read-only home, a full disk: made next run too
        _write(path, dump(value))
    return value


def _write(path: Path, data: bytes) -> None:
    import tempfile  # here: only a miss writes, and its import costs more than a hit's read

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def load_hyperscan(data: bytes) -> Any:
    """A block-mode Hyperscan database written by `hyperscan.dumpb`, ready to scan (an
    entry from another Hyperscan version or CPU is refused by Hyperscan: made again)."""
    import hyperscan  # only those who have Hyperscan call this

    database = hyperscan.loadb(data, hyperscan.HS_MODE_BLOCK)
    database.scratch = hyperscan.Scratch(database)
    return database
