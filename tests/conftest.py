"""Shared test setup: where the shared corpus lives, stored-log fixtures, markers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_github import FakeGitHub

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `make test` runs the database tests a second time on PostgreSQL (`-m db`).
    for item in items:
        if item.get_closest_marker("django_db") or "db" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session", autouse=True)
def static_files() -> None:
    """Pages name static files by their hashed names: collected once, as `citriage web` does
    (nothing to do when the sources did not change)."""
    from citriage.web import staticfiles

    staticfiles.collect()


@pytest.fixture(scope="session")
def corpus() -> Path:
    # CI always has the corpus beside the checkout: its absence is a failure, not a skip.
    assert CORPUS.is_dir(), f"the shared corpus is not at {CORPUS}"
    return CORPUS


@pytest.fixture
def fake_github(corpus: Path) -> Iterator[FakeGitHub]:
    """A stateful fake GitHub API (see tests.fake_github); configure the App on it with
    tests.fake_github.app_on."""
    fake = FakeGitHub(corpus)
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def configs(corpus: Path) -> Path:
    """CI configurations of public projects (see ci-config/README.md)."""
    return corpus / "ci-config"


@pytest.fixture
def log_store(tmp_path: Path, settings: object) -> Iterator[Path]:
    """A fresh local log store for the test."""
    root = tmp_path / "logstore"
    root.mkdir()
    settings.LOG_STORE_URL = root.as_uri()  # type: ignore[attr-defined]
    yield root
