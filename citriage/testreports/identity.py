"""A test's identity: its suite (class, module, package) and its name, normalised so that
the same test gets the same key whichever report or log line named it.

Runners name tests differently: pytest writes `tests.test_a.TestB` + `test_c[1]` and
prints `tests/test_a.py::TestB::test_c[1]`; JUnit 5 names end in `()` that Surefire's
console leaves out; GoogleTest prints `Suite.Test` for classname `Suite`, name `Test`.
`normalise` makes these agree; `test_key` is what storage indexes.
"""

from __future__ import annotations

import hashlib
import re

MAX_SUITE = 1000
MAX_NAME = 2000

_SPACES = re.compile(r"\s+")


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def normalise(suite: str, name: str) -> tuple[str, str]:
    """(suite, name) as stored: whitespace collapsed, `()` of JUnit 5 method names
    dropped, a Python file path turned into its module path."""
    suite, name = _clean(suite), _clean(name)
    if name.endswith("()"):
        name = name[:-2]
    if suite.endswith(".py"):  # a file path (pytest's console, unittest-xml-reporting)
        suite = module_of(suite)
    return suite[:MAX_SUITE], name[:MAX_NAME]


def module_of(path: str) -> str:
    """`tests/unit/test_a.py` -> `tests.unit.test_a` (how pytest's report names a module)."""
    path = path.strip().lstrip("./")
    if path.endswith(".py"):
        path = path[:-3]
    return path.replace("\\", "/").strip("/").replace("/", ".")


def test_key(suite: str, name: str) -> str:
    """The stored key of a test: a hash of its normalised suite and name."""
    return key_of(*normalise(suite, name))


def key_of(suite: str, name: str) -> str:
    """The key of an already normalised (suite, name)."""
    return hashlib.sha1(f"{suite}\x1f{name}".encode(), usedforsecurity=False).hexdigest()


test_key.__test__ = False  # type: ignore[attr-defined]  # not a test for pytest


def display_name(suite: str, name: str) -> str:
    suite, name = normalise(suite, name)
    return f"{suite}::{name}" if suite else name
