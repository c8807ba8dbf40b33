"""What citriage posts (or would post) on GitHub for a commit: the check run's title,
conclusion and summary, and the pull request comment, rendered as GitHub shows them.
Built by the same code that posts (citriage.github.reporting, report_text), so the
preview is what is sent, whether or not a GitHub App is configured."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.safestring import SafeString

from citriage.ci import github_app
from citriage.ci.models import PullRequest, Repository
from citriage.github import report_text, reporting
from citriage.github.models import CommentOptOut, PostedComment
from citriage.triage.models import CommitSummary
from citriage.web.markdown import github_html


@dataclass
class CommentPreview:
    pull: PullRequest
    html: SafeString | None  # None: no comment would be posted
    why_not: str = ""


@dataclass
class Preview:
    repository: Repository
    delivery: str  # whether it is posted, or why not
    title: str
    status: str
    conclusion: str
    summary_markdown: str
    summary_html: SafeString
    comments: list[CommentPreview] = field(default_factory=list)


def delivery(repository: Repository) -> str:
    if not github_app.configured():
        return "No GitHub App is configured: this is what citriage would post."
    if not github_app.installed(repository):
        return f"Nothing is posted for {repository.full_name} (the App is not installed there)."
    return "Posted on GitHub after the cool-off, and updated when a verdict changes."


def preview(summary: CommitSummary) -> Preview:
    repository = summary.repository
    verdicts, checks, running = reporting.inputs(repository, summary.sha)
    payload = reporting.check_payload(summary, verdicts, checks, running)
    markdown = payload["output"]["summary"]
    result = Preview(
        repository=repository,
        delivery=delivery(repository),
        title=payload["output"]["title"],
        status=payload["status"],
        conclusion=payload.get("conclusion", ""),
        summary_markdown=markdown,
        summary_html=github_html(markdown),
    )
    pulls = PullRequest.objects.filter(repository=repository, head_sha=summary.sha, state="open")
    opted_out = {login.lower() for login in CommentOptOut.objects.values_list("login", flat=True)}
    posted = set(
        PostedComment.objects.filter(
            repository=repository, pull_number__in=[p.number for p in pulls]
        ).values_list("pull_number", flat=True)
    )
    body: SafeString | None = None
    for pull in pulls.order_by("number"):
        if pull.author_login.lower() in opted_out:
            result.comments.append(CommentPreview(pull, None, f"{pull.author_login} opted out"))
        elif pull.number not in posted and not reporting.wants_comment(summary):
            result.comments.append(CommentPreview(pull, None, "nothing failed: no comment"))
        else:
            if body is None:
                body = github_html(
                    report_text.report(summary, verdicts, checks, running=running, for_comment=True)
                )
            result.comments.append(CommentPreview(pull, body))
    return result
