"""How broken the default branch is over time, from the stored summaries and breakages."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from citriage.ci.models import Commit, Repository
from citriage.triage import breakages
from citriage.triage.inference import InferredSpan, infer_spans
from citriage.triage.models import Breakage, CommitSummary, Verdict

STATES = ("known breakage", "flaky", "unexplained")


def commit_state(failures: int, all_excused: bool, counts: dict[str, int]) -> str | None:
    """Green (None), or why a default-branch commit with these summary figures had
    failures: something not excused is "unexplained"; else a known breakage if any; else
    flaky (or otherwise excused)."""
    if failures == 0:
        return None
    if not all_excused:
        return "unexplained"
    if counts.get(Verdict.KNOWN_PROBLEM):
        return "known breakage"
    return "flaky"


@dataclass
class Health:
    days: list[date]
    shares: dict[str, list[float]]  # state -> share of that day's commits, in %
    commits_per_day: list[int]
    fixed: list[tuple[Breakage, float]]  # breakage, hours to fix
    ongoing: list[tuple[Breakage, float]]  # breakage, hours so far, longest first
    inferred_ongoing: list[InferredSpan]
    inferred_fixed: list[tuple[str, float]]  # label, hours from first bad to fixed
    lag_times: list[str]
    lag: list[int]  # per built commit: commits since the newest all-green one
    current_lag: int | None
    built: int = 0  # commits with a summary
    # commits missing jobs their CI configuration expects (or whose workflows failed to
    # start): how many, and the newest, with what is missing
    with_missing: int = 0
    missing: list[tuple[Commit, list[str]]] = field(default_factory=list)


def _hours(delta: timedelta | None) -> float:
    return round(delta.total_seconds() / 3600, 1) if delta is not None else 0.0


def compute(repository: Repository, *, commits: int = 1000) -> Health:
    branch = list(
        Commit.objects.filter(repository=repository, branch_position__isnull=False)
        .order_by("-branch_position")
        .only("sha", "branch_position", "committed_at")[:commits]
    )[::-1]
    # the summaries' figures, not the rows (1,000 of them, JSON fields and all)
    summaries = {
        sha: rest
        for sha, *rest in CommitSummary.objects.filter(
            repository=repository, sha__in=[c.sha for c in branch]
        ).values_list(
            "sha",
            "failures",
            "all_excused",
            "counts",
            "pending",
            "waiting_jobs",
            "missing_jobs",
            "not_started",
            "updated",
        )
    }
    per_day: dict[date, Counter[str]] = defaultdict(Counter)
    lag_times, lag = [], []
    newest_green: int | None = None
    built = 0
    missing: list[tuple[Commit, list[str]]] = []
    for commit in branch:
        summary = summaries.get(commit.sha)
        if summary is None:
            continue  # not built (yet)
        failures, all_excused, counts, pending, waiting, missing_jobs, not_started, updated = (
            summary
        )
        built += 1
        unreported = missing_jobs + [f"{w} (did not start)" for w in not_started]
        if unreported:
            missing.append((commit, unreported))
        at = commit.committed_at or updated
        day = at.date()
        state = commit_state(failures, all_excused, counts)
        per_day[day]["commits"] += 1
        if state:
            per_day[day][state] += 1
        elif pending == 0 and not unreported and not waiting:
            newest_green = commit.branch_position
        if newest_green is not None:
            lag_times.append(at.isoformat())
            lag.append((commit.branch_position or 0) - newest_green)
    days = sorted(per_day)
    shares = {
        state: [round(100 * per_day[d][state] / per_day[d]["commits"], 1) for d in days]
        for state in STATES
    }
    annotated = list(
        Breakage.objects.filter(repository=repository)
        .select_related("cause", "fix")
        .order_by("-cause__branch_position")
    )
    fixed = [(b, _hours(breakages.duration(b))) for b in annotated if b.fix is not None][:40]
    ongoing = sorted(
        ((b, _hours(breakages.duration(b))) for b in annotated if b.fix is None),
        key=lambda item: -item[1],
    )
    head = branch[-1].branch_position if branch else 0
    spans = [
        s for s in infer_spans(repository, low=(head or 0) - 300, high=head or 0) if not s.weak
    ]
    inferred = sorted((s for s in spans if s.ongoing), key=lambda s: -s.commits)
    inferred_fixed = [
        (f"{s.job} {s.first.sha[:7]}", _hours(s.fix.committed_at - s.first.committed_at))
        for s in sorted(spans, key=lambda s: s.first.branch_position or 0)
        if s.fix is not None and s.fix.committed_at and s.first.committed_at
    ][-40:]
    return Health(
        days,
        shares,
        [per_day[d]["commits"] for d in days],
        fixed[::-1],
        ongoing,
        inferred,
        inferred_fixed,
        lag_times,
        lag,
        lag[-1] if lag else None,
        built,
        len(missing),
        missing[::-1][:10],
    )
