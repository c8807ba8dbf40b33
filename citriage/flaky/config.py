"""The monitors' settings for one repository: defaults here, each overridable in the
repository's settings JSON under "flaky" (the admin)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from citriage.ci.models import Repository


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class MonitorConfig:
    window_days: int = 14  # history the monitors read
    # pass on retry: failed and passed on one commit (rerun attempts or inside one run)
    retry_min: int = 1
    # failure rate on the default branch: at least this many runs of the test, this many
    # separate failure episodes, and this share of failing runs
    rate_min_runs: int = 10
    rate_min_episodes: int = 2
    rate_threshold: float = 0.01
    # failing on pull requests while passing on the default branch: this many authors
    # and commits
    pr_min: int = 2
    # broken: failing on this many default-branch commits in a row, the newest included;
    # such a streak (also when it has ended) is a breakage, not flakiness evidence
    broken_after: int = 3
    # infra protection: a run where more than this share of its tests failed (and at
    # least infra_min_failures) is not evidence
    infra_share: float = 0.3
    infra_min_failures: int = 5
    # a flaky test stays flaky until it has shown no evidence for this long
    recovery_days: int = 7
    # quarantine tests flaky for this many days automatically (0: never; broken: never)
    auto_quarantine_days: int = 0
    # failures of a test with the same (specific) message signature on the default branch
    # and on another author's pull request count as evidence
    similar_evidence: bool = False


DEFAULTS = MonitorConfig()


def parse(values: dict[str, Any]) -> MonitorConfig:
    """A config from JSON values (unknown keys and wrong types are refused, saying which)."""
    if not isinstance(values, dict):
        raise ConfigError('"flaky" must be an object of settings')
    known = {f.name: f for f in fields(MonitorConfig)}
    changes: dict[str, Any] = {}
    for name, value in values.items():
        if name not in known:
            raise ConfigError(f"unknown flaky setting {name!r}; known: {', '.join(known)}")
        default = getattr(DEFAULTS, name)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"flaky setting {name!r} must be true or false")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"flaky setting {name!r} must be a whole number >= 0")
        elif isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ConfigError(f"flaky setting {name!r} must be a number from 0 to 1")
        changes[name] = value
    config = replace(DEFAULTS, **changes)
    if config.window_days < 1 or config.broken_after < 2:
        raise ConfigError("flaky: window_days must be >= 1 and broken_after >= 2")
    return config


def for_repository(repository: Repository) -> MonitorConfig:
    """The repository's monitor settings (a bad "flaky" entry: the defaults; the admin
    and the CLI refuse bad entries, saying why)."""
    try:
        return parse(repository.settings.get("flaky") or {})
    except ConfigError:
        return DEFAULTS
