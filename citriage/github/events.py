"""Processing stored webhook deliveries, one event type at a time.

Handlers only record what the payload says and queue follow-up work (build
details, logs, summaries); they never call other services themselves.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from citriage.ci import ingest
from citriage.ci.models import ExternalCheck, JobStatus, Provider, Repository
from citriage.github.models import Delivery, DeliveryStatus
from citriage.providers.base import JobRun, ProviderError, parse_time
from citriage.providers.circleci import build_number_from_url

logger = logging.getLogger(__name__)

OWN_APP_SLUGS = {"citriage"}
GITHUB_ACTIONS_APP = "github-actions"  # its check runs are jobs, when Actions is watched
CIRCLECI_CONTEXT = "ci/circleci"
ZERO_SHA = "0" * 40


class Ignored(Exception):
    """The delivery is valid but there is nothing to do with it (the message says why)."""


Handler = Callable[[Repository, dict[str, Any]], str]
HANDLERS: dict[str, Handler] = {}


def handles(event: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[event] = handler
        return handler

    return register


def process_delivery(delivery_id: int) -> str:
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING)
            .first()
        )
        if delivery is None:
            return "already processed (or being processed)"
        status, note = _process(delivery)
        delivery.status, delivery.note = status, note[:5000]
        delivery.processed_at = timezone.now()
        delivery.save(update_fields=["status", "note", "processed_at"])
    return f"{status}: {note}"


def _without_nul(value: Any) -> Any:
    """The payload with NUL characters dropped from its strings: PostgreSQL text cannot
    hold them (a commit message may carry one), and no log line ever does."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


def _process(delivery: Delivery) -> tuple[str, str]:
    if delivery.event == "ping":
        return DeliveryStatus.PROCESSED, "pong"
    handler = HANDLERS.get(delivery.event)
    if handler is None:
        return DeliveryStatus.IGNORED, f"citriage does not use {delivery.event!r} events"
    payload = json.loads(delivery.payload)
    if "\\u0000" in delivery.payload:
        payload = _without_nul(payload)
    owner, _, name = delivery.repository.partition("/")
    repository = Repository.objects.filter(owner=owner, name=name).first()
    if repository is None:
        return DeliveryStatus.IGNORED, f"repository {delivery.repository!r} is not watched"
    try:
        with transaction.atomic():
            return DeliveryStatus.PROCESSED, handler(repository, payload)
    except Ignored as exc:
        return DeliveryStatus.IGNORED, str(exc)
    except (KeyError, TypeError, ValueError) as exc:
        logger.warning("delivery %s: malformed %s payload: %r", delivery.guid, delivery.event, exc)
        return DeliveryStatus.FAILED, f"malformed {delivery.event} payload: {exc!r}"


# -- statuses and checks -------------------------------------------------------

_STATUS_STATES = {
    "pending": ("running", ""),
    "success": ("completed", "success"),
    "failure": ("completed", "failure"),
    "error": ("completed", "failure"),
}


@handles("status")
def on_status(repository: Repository, payload: dict[str, Any]) -> str:
    from citriage.ci.tasks import sync_build_task
    from citriage.triage import cooloff

    sha, context, state = payload["sha"], str(payload["context"]), str(payload["state"])
    target = str(payload.get("target_url") or "")
    build = build_number_from_url(target)
    is_circleci = context.startswith(CIRCLECI_CONTEXT) or (
        build is not None and context == "default"
    )
    if is_circleci and build is not None:
        name = context.split(":", 1)[1].strip() if ":" in context else ""
        status, conclusion = _STATUS_STATES.get(state, ("running", ""))
        ingest.record_job(
            repository,
            JobRun(
                provider=Provider.CIRCLECI,
                provider_id=str(build[2]),
                name=name or f"build {build[2]}",
                sha=sha,
                status=status,
                conclusion=conclusion,
                url=target,
                finished_at=parse_time(payload.get("updated_at"))
                if status == "completed"
                else None,
            ),
        )
        cooloff.touch(repository, sha)
        if status == JobStatus.COMPLETED and conclusion != "success":
            transaction.on_commit(lambda: sync_build_task.enqueue(repository.pk, build[2]))
            return f"CircleCI build {build[2]} {state}: details and logs queued"
        return f"CircleCI build {build[2]} {state}"
    ExternalCheck.objects.update_or_create(
        repository=repository,
        sha=sha,
        kind=ExternalCheck.Kind.STATUS,
        name=context[:255],
        defaults={
            "state": state,
            "description": str(payload.get("description") or ""),
            "url": target[:1000],
            "updated": parse_time(payload.get("updated_at")) or timezone.now(),
        },
    )
    cooloff.touch(repository, sha)
    return f"foreign status {context!r} {state}"


@handles("check_run")
def on_check_run(repository: Repository, payload: dict[str, Any]) -> str:
    from citriage.triage import cooloff

    run = payload["check_run"]
    app = (run.get("app") or {}).get("slug") or ""
    if app in OWN_APP_SLUGS:
        raise Ignored("citriage's own check run")
    if app == GITHUB_ACTIONS_APP and Provider.GITHUB_ACTIONS in repository.providers:
        raise Ignored("a GitHub Actions job: recorded from workflow_job events")
    sha = run["head_sha"]
    ExternalCheck.objects.update_or_create(
        repository=repository,
        sha=sha,
        kind=ExternalCheck.Kind.CHECK_RUN,
        name=str(run["name"])[:255],
        defaults={
            "app": app,
            "state": str(run.get("status") or ""),
            "conclusion": str(run.get("conclusion") or ""),
            "url": str(run.get("html_url") or run.get("details_url") or "")[:1000],
            "updated": parse_time(run.get("completed_at") or run.get("started_at"))
            or timezone.now(),
        },
    )
    cooloff.touch(repository, sha)
    return f"check run {run['name']!r} ({app}) {run.get('conclusion') or run.get('status')}"


@handles("workflow_job")
def on_workflow_job(repository: Repository, payload: dict[str, Any]) -> str:
    from citriage.ci import gha_sync

    try:
        return gha_sync.on_workflow_job(repository, payload)
    except gha_sync.NotWatched as exc:
        raise Ignored(str(exc)) from None
    except ProviderError as exc:
        raise ValueError(str(exc)) from None


@handles("workflow_run")
def on_workflow_run(repository: Repository, payload: dict[str, Any]) -> str:
    from citriage.ci import gha_sync

    try:
        return gha_sync.on_workflow_run(repository, payload)
    except gha_sync.NotWatched as exc:
        raise Ignored(str(exc)) from None


@handles("check_suite")
def on_check_suite(repository: Repository, payload: dict[str, Any]) -> str:
    suite = payload["check_suite"]
    app = (suite.get("app") or {}).get("slug") or ""
    return f"check suite of {app or 'an app'} on {suite['head_sha'][:10]}: {suite.get('status')}"


# -- history ---------------------------------------------------------------------


@handles("push")
def on_push(repository: Repository, payload: dict[str, Any]) -> str:
    ref = str(payload["ref"])
    if not ref.startswith("refs/heads/"):
        raise Ignored(f"push to {ref} (not a branch)")
    if payload.get("deleted"):
        raise Ignored(f"{ref} was deleted")
    branch = ref.removeprefix("refs/heads/")
    default = (payload.get("repository") or {}).get("default_branch") or repository.default_branch
    if default != repository.default_branch:
        repository.default_branch = default
        repository.save(update_fields=["default_branch"])
    before, after = str(payload["before"]), str(payload["after"])
    forced = bool(payload.get("forced"))
    commits = payload.get("commits") or []
    # The payload lists the pushed commits oldest first but not their parents: each
    # is taken to follow the previous one (the first, `before`, unless the push was
    # forced). The GitHub API corrects merge commits when it is configured.
    parent = before if before != ZERO_SHA and not forced else None
    for commit in commits:
        author = commit.get("author") or {}
        ingest.record_commit(
            repository,
            commit["id"],
            parents=[parent] if parent else [],
            message=str(commit.get("message") or ""),
            author_name=str(author.get("name") or ""),
            author_email=str(author.get("email") or ""),
            author_login=str(author.get("username") or ""),
            committed_at=parse_time(commit.get("timestamp")),
        )
        parent = commit["id"]
    if branch != default:
        return f"push to {branch}: {len(commits)} commit(s) recorded"
    moved = ingest.advance_default_branch(repository, after)
    kind = "force push" if forced else "push"
    return f"{kind} to {branch}: {len(commits)} commit(s); {moved} commit(s) placed on the branch"


PULL_ACTIONS = {"opened", "synchronize", "reopened", "closed", "edited"}


@handles("pull_request")
def on_pull_request(repository: Repository, payload: dict[str, Any]) -> str:
    action = str(payload.get("action") or "")
    if action not in PULL_ACTIONS:
        raise Ignored(f"pull_request {action!r} changes nothing citriage tracks")
    pull = payload["pull_request"]
    head = pull["head"]
    ingest.record_pull_request(
        repository,
        int(pull["number"]),
        head_sha=str(head["sha"]),
        title=str(pull.get("title") or "")[:500],
        author_login=str((pull.get("user") or {}).get("login") or ""),
        state=str(pull.get("state") or "open"),
        merged=bool(pull.get("merged")),
        head_ref=str(head.get("ref") or ""),
        base_ref=str((pull.get("base") or {}).get("ref") or ""),
        opened_at=parse_time(pull.get("created_at")),
        closed_at=parse_time(pull.get("closed_at")),
    )
    if action == "synchronize":
        from citriage.github.tasks import pull_request_pushed_task

        number = int(pull["number"])
        transaction.on_commit(lambda: pull_request_pushed_task.enqueue(repository.pk, number))
    return f"pull request #{pull['number']} {action} (head {str(head['sha'])[:10]})"


OPT_OUT, OPT_IN = "/citriage opt-out", "/citriage opt-in"


@handles("issue_comment")
def on_issue_comment(repository: Repository, payload: dict[str, Any]) -> str:
    """`/citriage opt-out` (or `opt-in`) in a comment: stop (or resume) commenting on the
    commenter's pull requests."""
    from citriage.github.models import CommentOptOut

    if payload.get("action") != "created":
        raise Ignored("only new comments can carry commands")
    comment = payload["comment"]
    body = str(comment.get("body") or "").strip().lower()
    login = str((comment.get("user") or {}).get("login") or "")
    if body.startswith(OPT_OUT):
        CommentOptOut.objects.get_or_create(login=login, defaults={"source": "comment"})
        return f"{login} opted out of citriage comments"
    if body.startswith(OPT_IN):
        CommentOptOut.objects.filter(login__iexact=login).delete()
        return f"{login} opted in to citriage comments"
    raise Ignored("not a citriage command")
