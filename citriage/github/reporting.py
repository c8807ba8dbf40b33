"""Posting a commit's summary to GitHub: one check run (or status), one comment per PR.

Everything posted is remembered with a hash of what was sent, so an update that
would not change anything sends nothing. Posting is exactly once even when a
worker dies mid-call or GitHub fails after acting: before creating a check run or
a comment, citriage records that it is about to; a later try that finds such a
record first looks on GitHub for what the interrupted try may have created (the
check run by name on the commit, the comment by a hidden marker) and adopts it
instead of creating a second one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.db import transaction
from prometheus_client import Counter

from citriage.ci import github_app
from citriage.ci.models import ExternalCheck, JobAttempt, JobStatus, PullRequest, Repository
from citriage.github import report_text
from citriage.github.models import CommentOptOut, PostedCheck, PostedComment
from citriage.providers.base import ProviderError, TransientProviderError
from citriage.providers.github import GitHub
from citriage.triage.models import CommitSummary, JobVerdict

logger = logging.getLogger(__name__)
CHECK_NAME = "citriage"

POSTED = Counter(
    "citriage_github_posts",
    "What citriage wrote on GitHub: check runs, commit statuses, comments (created, updated)",
    ["kind", "action"],
)
CREATING = 0  # PostedComment.comment_id while the comment is being created


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def inputs(repository: Repository, sha: str) -> tuple[list[JobVerdict], list[ExternalCheck], int]:
    """What a report of the commit is made of: its verdicts, foreign checks, jobs running."""
    verdicts = list(
        JobVerdict.objects.filter(repository=repository, sha=sha).select_related(
            "job__best__match__log__step", "breakage__fix"
        )
    )
    checks = list(ExternalCheck.objects.filter(repository=repository, sha=sha))
    running = (
        JobAttempt.objects.filter(repository=repository, sha=sha)
        .exclude(status=JobStatus.COMPLETED)
        .count()
    )
    return verdicts, checks, running


def report_commit(repository: Repository, summary: CommitSummary) -> list[str]:
    """Post (or update) the check run and the PR comments for this commit; raises when
    GitHub could not be reached or refused (the caller tries again later)."""
    if not github_app.configured():
        return ["GitHub App not configured: nothing posted"]
    if not github_app.installed(repository):
        return [f"the GitHub App was removed from {repository.full_name}: nothing posted"]
    github = github_app.for_repository(repository, reports=True)
    try:
        verdicts, checks, running = inputs(repository, summary.sha)
        notes = [post_check(github, repository, summary, verdicts, checks, running)]
        pulls = PullRequest.objects.filter(
            repository=repository, head_sha=summary.sha, state="open"
        )
        for pull in pulls:
            notes.append(post_comment(github, repository, pull, summary, verdicts, checks, running))
    finally:
        github.close()
    return notes


def check_payload(
    summary: CommitSummary, verdicts: list[JobVerdict], checks: list[ExternalCheck], running: int
) -> dict[str, Any]:
    """The check run as it would be posted (the commit page previews it too)."""
    title = report_text.headline(summary, running)[:250]
    payload: dict[str, Any] = {
        "name": CHECK_NAME,
        "head_sha": summary.sha,
        "details_url": report_text.page(f"/commits/{summary.sha}"),
        "output": {
            "title": title,
            "summary": report_text.report(summary, verdicts, checks, running=running),
        },
    }
    if report_text.in_progress(summary, running):
        payload["status"] = "in_progress"
    else:
        payload["status"] = "completed"
        payload["conclusion"] = report_text.conclusion(summary)
    return payload


def post_check(
    github: GitHub,
    repository: Repository,
    summary: CommitSummary,
    verdicts: list[JobVerdict],
    checks: list[ExternalCheck],
    running: int,
) -> str:
    sha = summary.sha
    payload = check_payload(summary, verdicts, checks, running)
    title = payload["output"]["title"]
    digest = _digest(payload)
    posted = PostedCheck.objects.filter(repository=repository, sha=sha).first()
    if posted is not None and posted.body_hash == digest:
        return "check: unchanged, nothing sent"
    base = f"/repos/{repository.owner}/{repository.name}"
    kind, external_id = PostedCheck.Kind.STATUS, None
    if repository.settings.get("github_report") != "status":
        try:
            external_id = _put_check_run(github, repository, base, payload, posted)
            kind = PostedCheck.Kind.CHECK_RUN
        except ProviderError as error:
            if error.status != 403 or isinstance(error, TransientProviderError):
                raise  # (a 403 that is a rate limit is not a refusal of checks)
            # Checks are not allowed here: use a commit status from now on.
            repository.settings = {**repository.settings, "github_report": "status"}
            repository.save(update_fields=["settings"])
    if kind == PostedCheck.Kind.STATUS:
        if "conclusion" not in payload:
            state = "pending"
        else:
            state = "success" if payload["conclusion"] == "success" else "failure"
        github.request(
            "POST",
            f"{base}/statuses/{sha}",
            json={
                "state": state,
                "context": CHECK_NAME,
                "description": title[:140],
                "target_url": payload["details_url"],
            },
        )
        POSTED.labels("status", "created").inc()
    PostedCheck.objects.update_or_create(
        repository=repository,
        sha=sha,
        defaults={
            "kind": kind,
            "external_id": external_id,
            "conclusion": payload.get("conclusion", "in_progress"),
            "title": title,
            "body_hash": digest,
        },
    )
    return f"{kind}: {title}"


def _put_check_run(
    github: GitHub,
    repository: Repository,
    base: str,
    payload: dict[str, Any],
    posted: PostedCheck | None,
) -> int:
    """Update citriage's check run on the commit, or create it (once); its id."""
    check_id = posted.external_id if posted is not None else None
    if posted is not None and posted.kind == PostedCheck.Kind.CHECK_RUN and check_id is None:
        check_id = _find_check_run(github, base, payload["head_sha"])  # an interrupted create
    if check_id is not None:
        update = {k: v for k, v in payload.items() if k != "head_sha"}
        try:
            github.request("PATCH", f"{base}/check-runs/{check_id}", json=update)
            POSTED.labels("check run", "updated").inc()
            return check_id
        except ProviderError as error:
            if error.status != 404:
                raise  # (deleted on GitHub: created again below)
    with transaction.atomic():  # the intent, committed before the call
        PostedCheck.objects.update_or_create(
            repository=repository,
            sha=payload["head_sha"],
            defaults={"kind": PostedCheck.Kind.CHECK_RUN, "external_id": None, "body_hash": ""},
        )
    created = github.json("POST", f"{base}/check-runs", json=payload)
    POSTED.labels("check run", "created").inc()
    return int(created["id"])


def _find_check_run(github: GitHub, base: str, sha: str) -> int | None:
    runs = github.pages(
        f"{base}/commits/{sha}/check-runs", "check_runs", {"check_name": CHECK_NAME}
    )
    return next((int(run["id"]) for run in runs if run.get("name") == CHECK_NAME), None)


def post_comment(
    github: GitHub,
    repository: Repository,
    pull: PullRequest,
    summary: CommitSummary,
    verdicts: list[JobVerdict],
    checks: list[ExternalCheck],
    running: int,
) -> str:
    if CommentOptOut.objects.filter(login__iexact=pull.author_login).exists():
        return f"#{pull.number}: {pull.author_login} opted out of comments"
    posted = PostedComment.objects.filter(repository=repository, pull_number=pull.number).first()
    if posted is None and not wants_comment(summary):
        return f"#{pull.number}: no failure, no comment"
    body = report_text.report(summary, verdicts, checks, running=running, for_comment=True)
    return put_comment(github, repository, pull.number, summary.sha, body, posted)


def wants_comment(summary: CommitSummary) -> bool:
    """A pull request gets a comment once something failed or an expected job is missing
    (then it is kept up to date)."""
    return bool(
        summary.failures or summary.foreign_failures or summary.missing_jobs or summary.not_started
    )


def put_comment(
    github: GitHub,
    repository: Repository,
    number: int,
    sha: str,
    body: str,
    posted: PostedComment | None,
) -> str:
    body = f"{body}\n\n{report_text.COMMENT_MARKER}"
    digest = hashlib.sha256(body.encode()).hexdigest()
    if posted is not None and posted.body_hash == digest:
        return f"#{number}: comment unchanged, nothing sent"
    base = f"/repos/{repository.owner}/{repository.name}"
    comment_id = posted.comment_id if posted is not None else None
    if comment_id == CREATING:
        comment_id = _find_comment(github, base, number)  # an interrupted create
    action = "created"
    if comment_id:
        try:
            github.request("PATCH", f"{base}/issues/comments/{comment_id}", json={"body": body})
            action = "edited"
        except ProviderError as error:
            if error.status != 404:
                raise
            comment_id, action = None, "re-created"  # someone deleted it: again, at the bottom
    if not comment_id:
        with transaction.atomic():  # the intent, committed before the call
            PostedComment.objects.update_or_create(
                repository=repository,
                pull_number=number,
                defaults={"comment_id": CREATING, "head_sha": sha, "body_hash": "", "body": ""},
            )
        comment_id = int(
            github.json("POST", f"{base}/issues/{number}/comments", json={"body": body})["id"]
        )
    PostedComment.objects.update_or_create(
        repository=repository,
        pull_number=number,
        defaults={"comment_id": comment_id, "head_sha": sha, "body_hash": digest, "body": body},
    )
    POSTED.labels("comment", "updated" if action == "edited" else "created").inc()
    return f"#{number}: comment {action}"


def _find_comment(github: GitHub, base: str, number: int) -> int | None:
    comments = github.pages(f"{base}/issues/{number}/comments")
    found = [c for c in comments if report_text.COMMENT_MARKER in str(c.get("body") or "")]
    return int(found[-1]["id"]) if found else None


def pull_request_pushed(repository: Repository, number: int) -> str:
    """A new commit on the PR: the comment says so until its builds are in."""
    if not github_app.configured() or not github_app.installed(repository):
        return "GitHub App not configured or not installed: nothing posted"
    pull = PullRequest.objects.get(repository=repository, number=number)
    posted = PostedComment.objects.filter(repository=repository, pull_number=number).first()
    if posted is None or posted.head_sha == pull.head_sha:
        return "no comment to update"
    if CommentOptOut.objects.filter(login__iexact=pull.author_login).exists():
        return "author opted out"
    github = github_app.for_repository(repository, reports=True)
    try:
        return put_comment(
            github,
            repository,
            number,
            pull.head_sha,
            report_text.waiting_body(pull.head_sha),
            posted,
        )
    finally:
        github.close()
