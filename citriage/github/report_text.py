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
from citriage.ci.models import ExternalCheck, JobAttempt, RerunRequest
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


def headline(summary: CommitSummary, running: int = 0) -> str:
    foreign = summary.foreign_failures
    not_analysed = f"{foreign} {'failure' if foreign == 1 else 'failures'} not analysed"
    if summary.failures == 0:
        if foreign:
            return f"{not_analysed} (other checks)" + (f", {running} running" if running else "")
        return "All jobs passed" if not running else f"No failures so far ({running} running)"
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
    line = ", ".join(parts)
    if summary.pending or running:
        return f"{line} (so far)"
    if summary.all_excused:
        return f"{line} — not caused by this change"
    unexplained = summary.failures - summary.excused
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


def _verdict_json(failures: list[Failure]) -> str:
    rows = []
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
            }
        )
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
    parts += _sections(failures, rerunning)
    foreign = _foreign(checks)
    if foreign:
        parts.append(foreign)
    if not failures and not foreign:
        parts.append("Every job passed." if not running else f"{running} job(s) still running.")
    if not for_comment:
        parts.append(
            "<details><summary>every verdict, as JSON</summary>\n\n"
            + fenced(_verdict_json(failures), "json")
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
