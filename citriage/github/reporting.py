"""Posting a commit's summary to GitHub: one check run (or status), one comment per PR.

Everything posted is remembered with a hash of what was sent, so an update
that would not change anything sends nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from githubkit import GitHub
from githubkit.exception import RequestFailed

from citriage.ci.models import ExternalCheck, JobAttempt, JobStatus, PullRequest, Repository
from citriage.github import client, render
from citriage.github.models import CommentOptOut, PostedCheck, PostedComment
from citriage.triage.models import CommitSummary, JobVerdict

logger = logging.getLogger(__name__)
CHECK_NAME = "citriage"


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _inputs(
    repository: Repository, sha: str
) -> tuple[CommitSummary, list[JobVerdict], list[ExternalCheck], int]:
    summary = CommitSummary.objects.get(repository=repository, sha=sha)
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
    return summary, verdicts, checks, running


def report_commit(repository: Repository, sha: str) -> list[str]:
    """Post (or update) the check run and the PR comments for this commit."""
    if not client.configured():
        return ["GitHub App not configured: nothing posted"]
    github = client.for_repository(repository)
    summary, verdicts, checks, running = _inputs(repository, sha)
    notes = [post_check(github, repository, summary, verdicts, checks, running)]
    for pull in PullRequest.objects.filter(repository=repository, head_sha=sha, state="open"):
        notes.append(post_comment(github, repository, pull, summary, verdicts, checks, running))
    return notes


def post_check(
    github: GitHub[Any],
    repository: Repository,
    summary: CommitSummary,
    verdicts: list[JobVerdict],
    checks: list[ExternalCheck],
    running: int,
) -> str:
    sha = summary.sha
    title = render.headline(summary, running)[:250]
    in_progress = bool(running or summary.pending)
    payload: dict[str, Any] = {
        "name": CHECK_NAME,
        "head_sha": sha,
        "details_url": render.page(f"/commits/{sha}"),
        "output": {
            "title": title,
            "summary": render.report(summary, verdicts, checks, running=running),
        },
    }
    if in_progress:
        payload["status"] = "in_progress"
    else:
        payload["status"] = "completed"
        payload["conclusion"] = render.conclusion(summary)
    digest = _digest(payload)
    posted = PostedCheck.objects.filter(repository=repository, sha=sha).first()
    if posted is not None and posted.body_hash == digest:
        return "check: unchanged, nothing sent"
    base = f"/repos/{repository.owner}/{repository.name}"
    kind, external_id = PostedCheck.Kind.STATUS, None
    if repository.settings.get("github_report") != "status":
        try:
            if (
                posted is not None
                and posted.kind == PostedCheck.Kind.CHECK_RUN
                and posted.external_id
            ):
                update = {k: v for k, v in payload.items() if k != "head_sha"}
                try:
                    result = client.call(
                        github, "PATCH", f"{base}/check-runs/{posted.external_id}", json=update
                    )
                except RequestFailed as error:
                    if client.status_code(error) != 404:
                        raise
                    result = client.call(github, "POST", f"{base}/check-runs", json=payload)
            else:
                result = client.call(github, "POST", f"{base}/check-runs", json=payload)
            kind, external_id = PostedCheck.Kind.CHECK_RUN, int(result["id"])
        except RequestFailed as error:
            if client.status_code(error) != 403:
                raise
            # Checks are not allowed here: use a commit status from now on.
            repository.settings = {**repository.settings, "github_report": "status"}
            repository.save(update_fields=["settings"])
    if kind == PostedCheck.Kind.STATUS:
        state = "pending" if in_progress else ("success" if summary.all_excused else "failure")
        client.call(
            github,
            "POST",
            f"{base}/statuses/{sha}",
            json={
                "state": state,
                "context": CHECK_NAME,
                "description": title[:140],
                "target_url": payload["details_url"],
            },
        )
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


def post_comment(
    github: GitHub[Any],
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
    if posted is None and summary.failures == 0:
        return f"#{pull.number}: no failure, no comment"
    body = render.report(summary, verdicts, checks, running=running, for_comment=True)
    return _put_comment(github, repository, pull.number, summary.sha, body, posted)


def _put_comment(
    github: GitHub[Any],
    repository: Repository,
    number: int,
    sha: str,
    body: str,
    posted: PostedComment | None,
) -> str:
    digest = hashlib.sha256(body.encode()).hexdigest()
    if posted is not None and posted.body_hash == digest:
        return f"#{number}: comment unchanged, nothing sent"
    base = f"/repos/{repository.owner}/{repository.name}"
    action = "created"
    if posted is not None:
        try:
            client.call(
                github, "PATCH", f"{base}/issues/comments/{posted.comment_id}", json={"body": body}
            )
            comment_id, action = posted.comment_id, "edited"
        except RequestFailed as error:
            if client.status_code(error) != 404:
                raise
            posted = None  # someone deleted it: post it again, at the bottom
            action = "re-created"
    if posted is None:
        result = client.call(
            github, "POST", f"{base}/issues/{number}/comments", json={"body": body}
        )
        comment_id = int(result["id"])
    PostedComment.objects.update_or_create(
        repository=repository,
        pull_number=number,
        defaults={"comment_id": comment_id, "head_sha": sha, "body_hash": digest, "body": body},
    )
    return f"#{number}: comment {action}"


def pull_request_pushed(repository: Repository, number: int) -> str:
    """A new commit on the PR: the comment says so until its builds are in."""
    if not client.configured():
        return "GitHub App not configured"
    pull = PullRequest.objects.get(repository=repository, number=number)
    posted = PostedComment.objects.filter(repository=repository, pull_number=number).first()
    if posted is None or posted.head_sha == pull.head_sha:
        return "no comment to update"
    if CommentOptOut.objects.filter(login__iexact=pull.author_login).exists():
        return "author opted out"
    github = client.for_repository(repository)
    return _put_comment(
        github, repository, number, pull.head_sha, render.waiting_body(pull.head_sha), posted
    )
