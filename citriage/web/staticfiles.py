"""Static files: plotly.js from the plotly package, and collecting everything into the data
dir (hashed names, gzip'd copies) so that WhiteNoise serves them compressed and cacheable
for a year. `collect()` runs where pages are served (`citriage web`, `citriage up`, the
tests) and does nothing when the sources did not change since the last time."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plotly
from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command

PLOTLY = "plotly.min.js"
PLOTLY_PREFIX = "vendor/plotly"
STAMP = ".collected-from"


class PlotlyFinder(BaseFinder):
    """plotly.js alone (the package's data folder also holds data sets and a widget bundle)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=Path(plotly.__file__).parent / "package_data")
        self.storage.prefix = PLOTLY_PREFIX  # type: ignore[attr-defined]

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> Any:
        if path != f"{PLOTLY_PREFIX}/{PLOTLY}":
            return []
        found = self.storage.path(PLOTLY)
        return [found] if find_all or kwargs.get("all") else found

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        yield PLOTLY, self.storage


def _sources() -> str:
    """A fingerprint of every static file the finders offer (name, size, modification)."""
    digest = hashlib.sha256()
    for finder in finders.get_finders():
        for path, storage in finder.list(["CVS", ".*", "*~"]):
            stat = os.stat(storage.path(path))
            prefix = getattr(storage, "prefix", "") or ""
            digest.update(f"{prefix}/{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def collect() -> bool:
    """Collect the static files into STATIC_ROOT unless they are there already; whether it
    ran. Processes starting together (test workers) take turns through a lock."""
    root = Path(settings.STATIC_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    wanted = _sources()
    stamp = root / STAMP
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == wanted:
            return False
        call_command("collectstatic", interactive=False, verbosity=0)
        stamp.write_text(wanted)
    return True
