"""What citriage posts on GitHub: the check run's title and summary, the PR comment.

Log text and anything people typed (job names, pattern descriptions) is made
harmless first: it cannot mention anyone, link issues, inject HTML or break
out of its code block.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings

from citriage import logstore
from citriage.ci.models import ExpectedJob, ExternalCheck, JobAttempt, RerunRequest
from citriage.rules import latest_attempts
from citriage.scanner.excerpts import excerpt
from citriage.triage.models import FLAKY_VERDICTS, CommitSummary, JobVerdict, Verdict

ZWSP = "\u200b"
MAX_SUMMARY = 60_000  # GitHub allows 65,535 characters
# Hidden in citriage's PR comment, so that it can be found again (see reporting).
COMMENT_MARKER = "<!-- citriage:report -->"

WORDS = {
    Verdict.KNOWN_PROBLEM: ("known problem", "known problems"),
    Verdict.INFRA: ("infrastructure failure", "infrastructure failures"),
    Verdict.TIMEOUT: ("timeout", "timeouts"),
    Verdict.NEW: ("new failure", "new failures"),
    Verdict.UNMATCHED: ("unmatched failure", "unmatched failures"),
    Verdict.NO_LOG: ("failure without log", "failures without log"),
    Verdict.PENDING: ("failure still being read", "failures still being read"),
}


def text(value: str) -> str:
    """Inline markdown that renders as the literal text and pings nobody."""
    value = html.escape(value, quote=False)
    value = re.sub(r"([\\`*_\[\]|~<>])", r"\\\1", value)
    value = value.replace("@", "@" + ZWSP)
    value = re.sub(r"#(?=\d)", "#" + ZWSP, value)
    return value.replace("\n", " ")


def fenced(body: str, language: str = "") -> str:
    """A code block no content can close early: the fence outgrows any backtick run."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{body}\n{fence}"


def page(path: str) -> str:
    return f"{settings.PUBLIC_URL}{path}"


@dataclass
class Failure:
    verdict: JobVerdict
    job: JobAttempt

    @property
    def label(self) -> str:
        attempt = f" (attempt {self.job.attempt})" if self.job.attempt > 1 else ""
        return f"{text(self.job.name)}{attempt}"


def latest_failures(verdicts: Iterable[JobVerdict]) -> list[Failure]:
    """One entry per job: its latest failed attempt (as the summary counts them)."""
    chosen = latest_attempts(verdicts, lambda v: v.job.name, lambda v: v.job.attempt)
    return [Failure(v, v.job) for v in sorted(chosen.values(), key=lambda v: v.job.name)]


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def tally(summary: CommitSummary) -> str:
    """ "N of M jobs reported" while jobs the configuration expects have not all reported."""
    if summary.expected_jobs and summary.reported_jobs < summary.expected_jobs:
        return f"{summary.reported_jobs} of {summary.expected_jobs} jobs reported"
    return ""


def _unreported(summary: CommitSummary) -> list[str]:
    """Expected jobs missing, workflows that failed to start."""
    parts = []
    if summary.missing_jobs:
        parts.append(
            _plural(len(summary.missing_jobs), "expected job", "expected jobs") + " missing"
        )
    if summary.not_started:
        parts.append(
            _plural(len(summary.not_started), "workflow", "workflows") + " failed to start"
        )
    return parts


def in_progress(summary: CommitSummary, running: int) -> bool:
    """Something is still to come: jobs running, logs being read, expected jobs awaited."""
    return bool(running or summary.pending or summary.waiting_jobs)


def headline(summary: CommitSummary, running: int = 0) -> str:
    foreign = summary.foreign_failures
    not_analysed = f"{foreign} {'failure' if foreign == 1 else 'failures'} not analysed"
    counted = tally(summary)
    if summary.failures == 0:
        parts = ([f"{not_analysed} (other checks)"] if foreign else []) + _unreported(summary)
        details = [t for t in (f"{running} running" if running else "", counted) if t]
        if parts:
            return ", ".join(parts + details)
        if not details and not summary.waiting_jobs:
            return "All jobs passed"
        return f"No failures so far ({'; '.join(details)})" if details else "No failures so far"
    counts = summary.counts
    flaky = sum(counts.get(v, 0) for v in FLAKY_VERDICTS)
    parts = (
        [f"{flaky} of {summary.failures} failures flaky"]
        if flaky
        else [f"{summary.failures} {'failure' if summary.failures == 1 else 'failures'}"]
    )
    for verdict, (one, many) in WORDS.items():
        n = counts.get(verdict, 0)
        if n:
            parts.append(f"{n} {one if n == 1 else many}")
    if not flaky and len(parts) == 2 and parts[1].startswith(f"{summary.failures} "):
        parts = [parts[1]]  # "1 new failure", not "1 failure, 1 new failure"
    if foreign:
        parts.append(not_analysed)
    parts += _unreported(summary)
    line = ", ".join(parts)
    if in_progress(summary, running):
        return f"{line} (so far{f'; {counted}' if counted else ''})"
    if summary.all_excused:
        return f"{line} — not caused by this change"
    unexplained = summary.failures - summary.excused
    if not unexplained and (summary.missing_jobs or summary.not_started):
        return f"{line} — the failures are not caused by this change"
    if not unexplained:
        return f"{line} — not analysed by citriage"
    return f"{line} — {unexplained} may be caused by this change"


def conclusion(summary: CommitSummary) -> str:
    return "success" if summary.all_excused else settings.CHECK_FAILURE_CONCLUSION


def _excerpt(verdict: JobVerdict) -> str:
    best = getattr(verdict.job, "best", None)
    if best is None:
        return ""
    match = best.match
    try:
        log = logstore.load_text(match.log.storage_key, match.log.line_count)
    except Exception:  # the excerpt is a courtesy; the verdict stands without it
        return ""
    shown = excerpt(log, match.line, 3, (match.start, match.end)).plain()
    step = match.log.step.name
    return (
        f"<details><summary>line {match.line} of step {text(step)}</summary>\n\n"
        f"{fenced(shown)}\n\n</details>"
    )


def _failure_line(failure: Failure, *, with_excerpt: bool, rerunning: set[int]) -> str:
    job = failure.job
    links = [f"[details]({page(f'/jobs/{job.pk}')})", f"[log]({page(f'/jobs/{job.pk}/log')})"]
    if job.url:
        links.append(f"[{text(job.get_provider_display())}]({job.url})")
    if job.failed:
        links.append(f"[rerun]({page(f'/jobs/{job.pk}')}#rerun)")
    reason = text(failure.verdict.reasons[0]) if failure.verdict.reasons else ""
    note = " — **rerunning**" if job.pk in rerunning else ""
    line = f"- **{failure.label}**{note}: {reason} ({' · '.join(links)})"
    if with_excerpt:
        block = _excerpt(failure.verdict)
        if block:
            line += "\n\n" + "\n".join("  " + row if row else "" for row in block.split("\n"))
    return line


SECTIONS = [
    ("New failures", (Verdict.NEW,), True),
    ("Unmatched failures", (Verdict.UNMATCHED, Verdict.NO_LOG), True),
    ("Timeouts", (Verdict.TIMEOUT,), True),
    ("Known problems", (Verdict.KNOWN_PROBLEM,), False),
    ("Flaky", FLAKY_VERDICTS, False),
    ("Infrastructure", (Verdict.INFRA,), False),
    ("Still being read", (Verdict.PENDING,), False),
]


def _sections(failures: list[Failure], rerunning: set[int]) -> list[str]:
    out = []
    for title, verdicts, with_excerpt in SECTIONS:
        chosen = [f for f in failures if f.verdict.verdict in verdicts]
        if not chosen:
            continue
        lines = [_failure_line(f, with_excerpt=with_excerpt, rerunning=rerunning) for f in chosen]
        if title == "Known problems":
            lines += _rebase_advice(chosen)
        out.append(f"### {title} ({len(chosen)})\n\n" + "\n".join(lines))
    return out


def _rebase_advice(failures: list[Failure]) -> list[str]:
    """Name each breakage, and when it is fixed on the default branch after this change's
    merge base, say how to pick the fix up."""
    lines = []
    named = {f.verdict.breakage.pk: f.verdict.breakage for f in failures if f.verdict.breakage}
    for breakage in sorted(named.values(), key=lambda b: b.pk):
        what = text(breakage.description or breakage.category)
        issue = f" ([issue]({breakage.issue_url}))" if breakage.issue_url else ""
        lines.append(
            f"- breakage [#{breakage.pk}]({page(f'/breakages/{breakage.pk}/')}): {what}{issue}"
        )
    fixed = sorted({f.verdict.fixed_on_branch for f in failures if f.verdict.fixed_on_branch})
    if not fixed:
        return ["", *lines] if lines else []
    fixes = ", ".join(f"`{sha[:10]}`" for sha in fixed)
    branch = failures[0].job.repository.default_branch
    return [
        "",
        *lines,
        "",
        f"Fixed on the default branch since this change was based on it (by {fixes}): "
        "rebase onto the default branch to pick up the fix, e.g.",
        "",
        fenced(f"git fetch origin\ngit rebase origin/{branch}\ngit push --force-with-lease"),
    ]


def _expected_rows(summary: CommitSummary) -> dict[str, ExpectedJob]:
    rows = ExpectedJob.objects.filter(
        repository_id=summary.repository_id, sha=summary.sha, name__in=summary.missing_jobs
    )
    return {row.name: row for row in rows}


def _missing(summary: CommitSummary, rows: dict[str, ExpectedJob]) -> str:
    """The jobs the configuration expects that never reported, and workflows that failed
    to start."""
    out = []
    if summary.missing_jobs:
        lines = []
        for name in summary.missing_jobs:
            row = rows.get(name)
            path = row.path.replace("`", "") if row is not None else ""  # a code span
            where = f" — expected by `{path}`" if path else ""
            lines.append(f"- **{text(name)}**{where}: not reported")
        out.append(
            f"### Missing jobs ({len(lines)})\n\n"
            "Jobs the CI configuration of this commit asks for that never reported "
            "(a workflow that did not run, a lost webhook):\n\n" + "\n".join(lines)
        )
    if summary.not_started:
        rows_ = "\n".join(f"- {text(name)}" for name in summary.not_started)
        out.append(f"### Workflows that failed to start ({len(summary.not_started)})\n\n{rows_}")
    return "\n\n".join(out)


# How the report groups failing tests (JobVerdict.tests[].group), in this order.
TEST_GROUPS = [
    ("new", "New: never failed before"),
    ("known", "Already failing on the default branch at the merge base"),
    ("flaky", "Flaky (citriage's monitors call these tests flaky)"),
    ("failed_before", "Failed before on other changes"),
    ("quarantined", "Quarantined (failures excused)"),
]
MAX_TESTS_LISTED = 20  # per group


def _test_history(test: dict[str, object]) -> str:
    """The test's failure rate on the default branch and where else it failed (indented
    under its line), when known."""
    said = []
    if test.get("rate"):
        said.append(f"default branch: failed {text(str(test['rate']))}")
    if test.get("elsewhere"):
        said.append(text(str(test["elsewhere"])))
    return "\n  " + "; ".join(said) if said else ""


def _failing_tests(failures: list[Failure]) -> str:
    """The failing tests of the failures listed, grouped: new, failing on the default
    branch at the merge base (since which commit), flaky, failed before elsewhere."""
    grouped: dict[str, list[tuple[Failure, dict[str, object]]]] = {}
    for failure in failures:
        for test in failure.verdict.tests:
            grouped.setdefault(str(test.get("group")), []).append((failure, test))
    if not grouped:
        return ""
    parts = []
    for key, title in TEST_GROUPS:
        rows = grouped.get(key, [])
        if not rows:
            continue
        lines = []
        for failure, test in rows[:MAX_TESTS_LISTED]:
            since = f", failing since `{str(test['since'])[:10]}`" if test.get("since") else ""
            message = f": {text(str(test['message'])[:160])}" if test.get("message") else ""
            lines.append(
                f"- `{str(test['name']).replace('`', '')[:200]}` in {failure.label}{since}{message}"
                + _test_history(test)
            )
        if len(rows) > MAX_TESTS_LISTED:
            lines.append(f"- … and {len(rows) - MAX_TESTS_LISTED} more")
        parts.append(f"**{title}** ({len(rows)})\n\n" + "\n".join(lines))
    return "### Failing tests\n\n" + "\n\n".join(parts)


def _foreign(checks: Iterable[ExternalCheck]) -> str:
    failed = [c for c in checks if c.failed]
    if not failed:
        return ""
    rows = "\n".join(
        f"- {text(c.name)}: {text(c.conclusion or c.state)}"
        + (f" ([details]({c.url}))" if c.url else "")
        for c in failed
    )
    return f"### Other checks that failed ({len(failed)})\n\n{rows}"


def _verdict_json(
    failures: list[Failure], summary: CommitSummary, expected: dict[str, ExpectedJob]
) -> str:
    rows: list[dict[str, object]] = []
    for failure in failures:
        best = getattr(failure.job, "best", None)
        rows.append(
            {
                "job": failure.job.name,
                "attempt": failure.job.attempt,
                "verdict": failure.verdict.verdict,
                "excused": failure.verdict.excused,
                "pattern": failure.verdict.pattern_id,
                "line": best.match.line if best else None,
                "breakage": failure.verdict.breakage_id,
                "reasons": failure.verdict.reasons,
                "url": failure.job.url,
                "failed_tests": [
                    {
                        "name": test.get("name"),
                        "outcome": test.get("outcome"),
                        "group": test.get("group"),
                        "since": test.get("since") or None,
                        "state": test.get("state"),
                        "rate": test.get("rate") or None,
                        "elsewhere": test.get("elsewhere") or None,
                    }
                    for test in failure.verdict.tests
                ],
            }
        )
    for name in summary.missing_jobs:
        row = expected.get(name)
        rows.append(
            {
                "job": name,
                "verdict": "missing",
                "excused": False,
                "workflow": row.workflow if row is not None else "",
                "config": row.path if row is not None else "",
                "reasons": ["expected by the commit's CI configuration, never reported"],
            }
        )
    for workflow in summary.not_started:
        rows.append({"workflow": workflow, "verdict": "not_started", "excused": False})
    return json.dumps(rows, indent=1, ensure_ascii=False)


def report(
    summary: CommitSummary,
    verdicts: Iterable[JobVerdict],
    checks: Iterable[ExternalCheck],
    *,
    running: int = 0,
    for_comment: bool = False,
) -> str:
    failures = latest_failures(verdicts)
    # A rerun was asked for and its new attempt not seen yet (a later attempt, passed or
    # failed, ends "rerunning"): superseded attempts are not the latest ones listed.
    rerunning = set(
        RerunRequest.objects.filter(job__in=[f.job for f in failures if not f.verdict.superseded])
        .exclude(ok=False, finished_at__isnull=False)
        .values_list("job_id", flat=True)
    )
    parts = []
    if for_comment:
        parts.append(f"## citriage: {headline(summary, running)}")
        parts.append(
            f"Commit {summary.sha[:10]} — [see it on citriage]({page(f'/commits/{summary.sha}')})"
        )
    counted = tally(summary)
    if counted:
        parts.append(f"{counted} so far.")
    parts += _sections(failures, rerunning)
    expected = _expected_rows(summary) if summary.missing_jobs else {}
    missing = _missing(summary, expected)
    if missing:
        parts.append(missing)
    tests = _failing_tests(failures)
    if tests:
        parts.append(tests)
    foreign = _foreign(checks)
    if foreign:
        parts.append(foreign)
    if not failures and not foreign and not missing:
        if running:
            parts.append(f"{running} job(s) still running.")
        elif not summary.waiting_jobs:
            parts.append("Every job passed.")
    if not for_comment:
        parts.append(
            "<details><summary>every verdict, as JSON</summary>\n\n"
            + fenced(_verdict_json(failures, summary, expected), "json")
            + "\n\n</details>"
        )
    body = "\n\n".join(parts)
    if len(body) > MAX_SUMMARY:
        body = (
            body[: MAX_SUMMARY - 100].rsplit("\n", 1)[0] + "\n\n… (cut; see citriage for the rest)"
        )
    return body


def waiting_body(sha: str) -> str:
    return (
        f"## citriage: commit {sha[:10]} was pushed, waiting for builds\n\n"
        f"[Follow it on citriage]({page(f'/commits/{sha}')})."
    )
