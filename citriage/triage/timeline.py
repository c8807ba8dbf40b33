"""The default branch as a grid: commits (rows, newest first) by jobs (columns).

Built in a handful of queries whatever the size (commits, attempts with their
verdicts, breakages, inferred runs, reverts), and rendered to HTML here rather
than in template loops, so 100 commits by 300 jobs stays quick.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from citriage.ci.models import (
    FAILED_CONCLUSIONS,
    Commit,
    Conclusion,
    JobAttempt,
    JobStatus,
    Repository,
)
from citriage.triage import expected
from citriage.triage.inference import RESULTS, InferredSpan, spans_of
from citriage.triage.models import Breakage, Verdict
from citriage.triage.reverts import find_reverts

# "Title (#123)" (squash merges) or "Merge pull request #123 from ..." (merge commits)
PULL_REFERENCE = re.compile(r"\(#(\d+)\)\s*$|^Merge pull request #(\d+) ")
PREFIX = re.compile(r"[-_/ :.(]")
COLUMN_PX = 16  # the width of a job's column (triage.css)
LABEL_CHAR_PX = 7  # about one character of a group label
ICONS: dict[str, str] = {
    Verdict.NEW: "✗",
    Verdict.UNMATCHED: "?",
    Verdict.TIMEOUT: "⏱",
    Verdict.NO_LOG: "∅",
    Verdict.INFRA: "⚙",
    Verdict.KNOWN_PROBLEM: "■",
    Verdict.FLAKY_PATTERN: "~",
    Verdict.FLAKY_CONFIRMED: "≈",
    Verdict.FLAKY_TEST: "≋",
    Verdict.FLAKY_MARKED: "~",
    Verdict.PENDING: "…",
}


# Looked up once: an enum member or Verdict.values is slow to look up per cell.
SUCCESS = Conclusion.SUCCESS.value
FAILED = frozenset(str(c) for c in FAILED_CONCLUSIONS)
VERDICT_LABELS = {str(v.value): str(v.label) for v in Verdict}


def job_prefix(name: str) -> str:
    """The group a job's column goes in: its name up to the first separator."""
    return PREFIX.split(name.strip(), maxsplit=1)[0] or name


# Expected jobs that did not report (citriage.triage.expected): mark, css class, what
UNREPORTED = {
    expected.MISSING: ("!", "miss", "expected, never reported: missing"),
    expected.WAITING: ("…", "wait", "expected, not reported yet"),
    expected.NOT_STARTED: ("⊘", "nost", "expected, but its workflow failed to start"),
}


@dataclass
class Row:
    commit: Commit
    pull: int | None
    cells: SafeString
    revert_of: Commit | None = None
    in_revert: bool = False
    breakages: list[int] = field(default_factory=list)
    tally: str = ""  # "N of M jobs reported", while some expected job has not


@dataclass
class Grid:
    repository: Repository
    rows: list[Row]
    groups: list[tuple[str, list[str]]]  # prefix -> job names, in column order
    hidden_green: int
    annotated: list[Breakage]
    inferred: list[InferredSpan]
    page: int
    pages: int

    @property
    def jobs(self) -> list[str]:
        return [name for _, names in self.groups for name in names]

    @property
    def headers(self) -> list[tuple[str, int, bool]]:
        """Each group's label, its number of columns, and whether the label is too long to
        lie across them (it is then written upright, like the job names)."""
        return [
            (prefix, len(names), len(prefix) * LABEL_CHAR_PX > len(names) * COLUMN_PX)
            for prefix, names in self.groups
        ]


def _cell(
    job: str,
    attempts: list[dict[str, object]],
    annotated: list[int],
    inferred: bool,
    unreported: str = "",
) -> str:
    classes = ["c"]
    if len(attempts) == 1 and attempts[0]["conclusion"] == SUCCESS:
        # Most cells: one element, no link (the column header names the job).
        classes.append("ok")
        attempts = []
    if annotated:
        classes.append("bk")
    if inferred:
        classes.append("inf")
    marks = []
    for a in attempts:
        conclusion = a["conclusion"]
        verdict = a["verdict__verdict"]
        if conclusion == SUCCESS:
            css, icon, what = "ok", "✓", "passed"
        elif conclusion in FAILED:
            verdict = str(verdict or Verdict.PENDING.value)
            css, icon = f"v-{verdict}", ICONS.get(verdict, "✗")
            what = VERDICT_LABELS.get(verdict, verdict)
        elif not conclusion:
            css, icon, what = "run", "○", "running"
        else:
            css, icon, what = "skip", "–", str(conclusion)
        if css == "ok":
            marks.append(f'<a class="ok" href="/jobs/{a["pk"]}/">✓</a>')
            continue
        title = escape(f"{job} #{a['attempt']}: {what}")
        marks.append(f'<a class="{css}" href="/jobs/{a["pk"]}/" title="{title}">{icon}</a>')
    if not attempts and unreported in UNREPORTED:
        icon, css, what = UNREPORTED[unreported]
        marks.append(f'<span class="{css}" title="{escape(f"{job}: {what}")}">{icon}</span>')
    data = f' data-breakages="{",".join(map(str, annotated))}"' if annotated else ""
    content = "".join(marks) if marks or "ok" not in classes else "✓"
    return f'<td class="{" ".join(classes)}"{data}>{content}</td>'


PASSED_CELL = '<td class="c ok">✓</td>'


def _success(name: str, pk: int) -> dict[str, Any]:
    """An attempt that passed (the attempt number is only shown for failures)."""
    return {
        "pk": pk,
        "name": name,
        "attempt": 1,
        "conclusion": SUCCESS,
        "verdict__verdict": None,
    }


def build(
    repository: Repository, *, page: int = 1, per_page: int = 100, show_green: bool = False
) -> Grid:
    on_branch = Commit.objects.filter(repository=repository, branch_position__isnull=False)
    total = on_branch.count()
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    commits = list(
        on_branch.order_by("-branch_position")[(page - 1) * per_page : page * per_page].only(
            "id", "sha", "message", "author_name", "author_login", "committed_at", "branch_position"
        )
    )
    if not commits:
        return Grid(repository, [], [], 0, [], [], page, pages)
    low = commits[-1].branch_position or 0
    high = commits[0].branch_position or 0
    attempts: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    passed_once: dict[tuple[int, str], int] = {}  # one attempt, passed (most cells): its id
    names: set[str] = set()
    failing_names: set[str] = set()
    results: list[tuple[int, str, str, int, int]] = []  # what inference reads
    page_attempts = (
        JobAttempt.objects.filter(repository=repository, commit_id__in=[c.pk for c in commits])
        .order_by("attempt", "pk")
        .values_list(
            "pk", "name", "attempt", "conclusion", "status", "commit_id", "verdict__verdict"
        )
    )
    # once: enum members are slow to look up per row (100 x 200 rows)
    completed, success, result_values = (
        JobStatus.COMPLETED.value,
        Conclusion.SUCCESS.value,
        {str(c) for c in RESULTS},
    )
    for pk, name, attempt, conclusion, status, commit_id, verdict in page_attempts:
        if status == completed and conclusion in result_values:
            results.append((pk, name, conclusion, attempt, commit_id))
        key = (commit_id, name)
        if conclusion == success and key not in attempts and key not in passed_once:
            passed_once[key] = pk
            names.add(name)
            continue
        if key in passed_once:  # a second attempt after all: keep both
            attempts[key].append(_success(name, passed_once.pop(key)))
        attempts[key].append(
            {
                "pk": pk,
                "name": name,
                "attempt": attempt,
                "conclusion": conclusion,
                "verdict__verdict": verdict,
            }
        )
        names.add(name)
        if conclusion != success:
            failing_names.add(name)
    # expected jobs that did not report: shown in their own columns like failures
    coverage = expected.coverages(repository, [c.sha for c in commits])
    unreported: dict[tuple[int, str], str] = {}
    for commit in commits:
        for job in coverage[commit.sha].jobs:
            if job.state in UNREPORTED:
                unreported[(commit.pk, job.name)] = job.state
                names.add(job.name)
                failing_names.add(job.name)
    found = list(
        Breakage.objects.filter(repository=repository, cause__branch_position__lte=high)
        .filter(Q(fix__isnull=True) | Q(fix__branch_position__gt=low))
        .select_related("cause", "fix")
        .order_by("cause__branch_position")
    )
    inferred = [s for s in spans_of(repository, commits, results) if not s.weak]
    shown = sorted(names if show_green else failing_names | _breakage_jobs(found, names))
    groups = [
        (prefix, list(group))
        for prefix, group in groupby(sorted(shown, key=job_prefix_key), key=job_prefix)
    ]
    columns = [name for _, group in groups for name in group]
    inferred_at: set[tuple[str, int]] = set()
    for span in inferred:
        for position in range(
            span.first.branch_position or 0, (span.last.branch_position or 0) + 1
        ):
            inferred_at.add((span.job, position))
    reverts = find_reverts(repository, commits)
    revert_of = {r.commit.pk: r.reverted for r in reverts}
    revert_ranges = [
        (r.reverted.branch_position, r.commit.branch_position)
        for r in reverts
        if r.reverted is not None and r.reverted.branch_position is not None
    ]
    rows = []
    for commit in commits:
        position = commit.branch_position or 0
        covering = [
            b
            for b in found
            if (b.cause.branch_position or 0) <= position
            and (b.fix is None or position < (b.fix.branch_position or 0))
        ]
        cells = []
        commit_pk = commit.pk
        for name in columns:
            key = (commit_pk, name)
            annotated = [b.pk for b in covering if b.covers_job(name)] if covering else []
            inferred_here = (name, position) in inferred_at
            if key in passed_once and not annotated and not inferred_here:
                cells.append(PASSED_CELL)  # most cells: nothing to say but "passed"
                continue
            here = attempts.get(key)
            if here is None:
                here = [_success(name, passed_once[key])] if key in passed_once else []
            cells.append(_cell(name, here, annotated, inferred_here, unreported.get(key, "")))
        match = PULL_REFERENCE.search(commit.title)
        rows.append(
            Row(
                commit,
                int(match.group(1) or match.group(2)) if match else None,
                mark_safe("".join(cells)),
                revert_of.get(commit.pk),
                any(start <= position <= end for start, end in revert_ranges if end is not None),
                [b.pk for b in covering],
                _tally(coverage[commit.sha]),
            )
        )
    return Grid(
        repository,
        rows,
        groups,
        len(names) - len(columns),
        found,
        inferred,
        page,
        pages,
    )


def _tally(coverage: expected.Coverage) -> str:
    if coverage.expected and coverage.reported < coverage.expected:
        return f"{coverage.reported} of {coverage.expected} jobs reported"
    return ""


def job_prefix_key(name: str) -> tuple[str, str]:
    return job_prefix(name), name


def _breakage_jobs(found: list[Breakage], names: set[str]) -> set[str]:
    """Columns to keep even when green on this page: those a breakage names."""
    return {job for b in found for job in b.jobs if job in names}


def pull_url(repository: Repository, number: int) -> str:
    return f"{settings.GITHUB_URL}/{repository.full_name}/pull/{number}"
