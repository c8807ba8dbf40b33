"""Processing stored webhook deliveries, one event type at a time.

Handlers only record what the payload says (through citriage.ci.recording, which
tells the apps that care) and queue follow-up work; they never call other
services themselves. A delivery whose content cannot be processed is marked failed
with the reason at once; one whose processing crashed for another reason (a bug,
the database) is tried again a few times, then marked failed: never retried forever.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from citriage.ci import actions, github_app, recording
from citriage.ci.models import ExternalCheck, Provider, Repository
from citriage.ci.tasks import sync_run_task
from citriage.github.models import CommentOptOut, Delivery, DeliveryStatus
from citriage.providers.base import JobRun, ProviderError
from citriage.providers.circleci import build_number_from_url
from citriage.providers.github_actions import to_workflow_run
from citriage.rules import parse_time

logger = logging.getLogger(__name__)

OWN_APP_SLUGS = {"citriage"}
GITHUB_ACTIONS_APP = "github-actions"  # its check runs are jobs, when Actions is watched
CIRCLECI_CONTEXT = "ci/circleci"
ZERO_SHA = "0" * 40
MAX_ATTEMPTS = 3  # processing that crashed is tried this many times


class Ignored(Exception):
    """The delivery is valid but there is nothing to do with it (the message says why)."""


Handler = Callable[[Repository, dict[str, Any]], str]
AccountHandler = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Handles:
    repository: Handler | None = None  # events about one watched repository
    account: AccountHandler | None = None  # events about the App's installations


HANDLERS: dict[str, Handles] = {}


def handles(event: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[event] = Handles(repository=handler)
        return handler

    return register


def handles_account(event: str) -> Callable[[AccountHandler], AccountHandler]:
    def register(handler: AccountHandler) -> AccountHandler:
        HANDLERS[event] = Handles(account=handler)
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
        try:
            with transaction.atomic():  # a savepoint: a failure leaves the delivery row usable
                status, note = _process(delivery)
        except Exception as exc:
            logger.exception("delivery %s (%s) crashed", delivery.guid, delivery.event)
            attempts = delivery.attempts + 1
            error = f"{type(exc).__name__}: {exc}"
            if attempts < MAX_ATTEMPTS:  # left pending: the sweep queues it again later
                Delivery.objects.filter(pk=delivery.pk).update(
                    attempts=attempts, note=f"try {attempts} failed: {error}"[:5000]
                )
                return f"try {attempts} failed (will be tried again): {error}"
            status, note = DeliveryStatus.FAILED, f"failed {attempts} times: {error}"
        delivery.status, delivery.note = status, note[:5000]
        delivery.processed_at = timezone.now()
        delivery.attempts = F("attempts") + 1
        delivery.save(update_fields=["status", "note", "processed_at", "attempts"])
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
    if not isinstance(payload, dict):
        return DeliveryStatus.FAILED, "the payload is not a JSON object"
    try:
        if handler.account is not None:
            return DeliveryStatus.PROCESSED, handler.account(payload)
        assert handler.repository is not None
        owner, _, name = delivery.repository.partition("/")
        repository = Repository.objects.filter(owner=owner, name=name).first()
        if repository is None:
            return DeliveryStatus.IGNORED, f"repository {delivery.repository!r} is not watched"
        return DeliveryStatus.PROCESSED, handler.repository(repository, payload)
    except Ignored as exc:
        return DeliveryStatus.IGNORED, str(exc)
    except (KeyError, TypeError, ValueError, AttributeError, ProviderError) as exc:
        logger.warning("delivery %s: malformed %s payload: %r", delivery.guid, delivery.event, exc)
        return DeliveryStatus.FAILED, f"malformed {delivery.event} payload: {exc!r}"


def _object(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload[key]
    if not isinstance(value, dict):
        raise TypeError(f"{key} is not an object")
    return value


# -- statuses and checks -------------------------------------------------------

_STATUS_STATES = {
    "pending": ("running", ""),
    "success": ("completed", "success"),
    "failure": ("completed", "failure"),
    "error": ("completed", "failure"),
}


@handles("status")
def on_status(repository: Repository, payload: dict[str, Any]) -> str:
    sha = recording.checked_sha(payload["sha"])
    context, state = str(payload["context"]), str(payload["state"])
    target = str(payload.get("target_url") or "")
    updated = parse_time(payload.get("updated_at"))
    build = build_number_from_url(target)
    is_circleci = context.startswith(CIRCLECI_CONTEXT) or (
        build is not None and context == "default"
    )
    if is_circleci and build is not None:
        name = context.split(":", 1)[1].strip() if ":" in context else ""
        status, conclusion = _STATUS_STATES.get(state, ("running", ""))
        _job, changed = recording.record_job(
            repository,
            JobRun(
                provider=Provider.CIRCLECI,
                provider_id=str(build[2]),
                name=name or f"build {build[2]}",
                sha=sha,
                status=status,
                conclusion=conclusion,
                url=target,
                finished_at=updated if status == "completed" else None,
            ),
        )
        # A failed build's details and logs are fetched by the log fetch it made owed.
        return f"CircleCI build {build[2]} {state}" + ("" if changed else " (nothing new)")
    changed = recording.record_external_check(
        repository,
        sha,
        kind=ExternalCheck.Kind.STATUS,
        name=context,
        state=state,
        description=str(payload.get("description") or ""),
        url=target,
        updated=updated,
    )
    return f"foreign status {context!r} {state}" + ("" if changed else " (nothing new)")


@handles("check_run")
def on_check_run(repository: Repository, payload: dict[str, Any]) -> str:
    run = _object(payload, "check_run")
    app = (run.get("app") or {}).get("slug") or ""
    if app in OWN_APP_SLUGS:
        raise Ignored("citriage's own check run")
    if app == GITHUB_ACTIONS_APP and actions.watches(repository):
        raise Ignored("a GitHub Actions job: recorded from workflow_job events")
    changed = recording.record_external_check(
        repository,
        run["head_sha"],
        kind=ExternalCheck.Kind.CHECK_RUN,
        name=str(run["name"]),
        app=app,
        state=str(run.get("status") or ""),
        conclusion=str(run.get("conclusion") or ""),
        url=str(run.get("html_url") or run.get("details_url") or ""),
        updated=parse_time(run.get("completed_at") or run.get("started_at")),
    )
    what = run.get("conclusion") or run.get("status")
    return f"check run {run['name']!r} ({app}) {what}" + ("" if changed else " (nothing new)")


@handles("workflow_job")
def on_workflow_job(repository: Repository, payload: dict[str, Any]) -> str:
    """`workflow_job` (queued, waiting, in_progress, completed): one job attempt."""
    if not actions.watches(repository):
        raise Ignored(f"{repository.full_name} does not watch GitHub Actions")
    job, changed = actions.record(repository, _object(payload, "workflow_job"))
    what = f"job {job.name!r} attempt {job.attempt} {job.conclusion or job.status}"
    return what + ("" if changed else " (nothing new)")


@handles("workflow_run")
def on_workflow_run(repository: Repository, payload: dict[str, Any]) -> str:
    """`workflow_run`: the commit it ran on; once completed, its jobs are pulled from the
    API (catching any `workflow_job` delivery that went missing)."""
    if not actions.watches(repository):
        raise Ignored(f"{repository.full_name} does not watch GitHub Actions")
    run = _object(payload, "workflow_run")
    sha, run_id = recording.checked_sha(run["head_sha"]), int(run["id"])
    recording.record_workflow_run(repository, to_workflow_run(run))
    head = run.get("head_commit") or {}
    if isinstance(head, dict) and head.get("id") == sha:
        author = head.get("author") or {}
        recording.record_commit(
            repository,
            sha,
            message=str(head.get("message") or ""),
            author_name=str(author.get("name") or ""),
            author_email=str(author.get("email") or ""),
            committed_at=parse_time(head.get("timestamp")),
        )
    name = run.get("name") or run.get("path") or run_id
    if run.get("status") == "completed":
        transaction.on_commit(lambda: sync_run_task.enqueue(repository.pk, run_id))
        return f"workflow run {name} #{run_id} completed ({run.get('conclusion')}): jobs queued"
    return f"workflow run {name} #{run_id} {run.get('status')}"


@handles("check_suite")
def on_check_suite(repository: Repository, payload: dict[str, Any]) -> str:
    suite = _object(payload, "check_suite")
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
        repository.default_branch = str(default)[:255]
        repository.save(update_fields=["default_branch"])
    before = str(payload["before"])
    after = recording.checked_sha(payload["after"])
    forced = bool(payload.get("forced"))
    commits = payload.get("commits") or []
    if not isinstance(commits, list):
        raise TypeError("commits is not a list")
    # The payload lists the pushed commits oldest first but not their parents: each
    # is taken to follow the previous one (the first, `before`, unless the push was
    # forced). The GitHub API corrects merge commits when it is configured.
    parent = before if before != ZERO_SHA and not forced else None
    pushed = timezone.now()  # CI runs for the head of a push (`after`) only
    for commit in commits:
        if not isinstance(commit, dict):
            raise TypeError("a pushed commit is not an object")
        sha = recording.checked_sha(commit["id"])
        author = commit.get("author") or {}
        recording.record_commit(
            repository,
            sha,
            parents=[parent] if parent else [],
            message=str(commit.get("message") or ""),
            author_name=str(author.get("name") or ""),
            author_email=str(author.get("email") or ""),
            author_login=str(author.get("username") or ""),
            committed_at=parse_time(commit.get("timestamp")),
            pushed_at=pushed if sha == after else None,
            pushed_branch=branch if sha == after else "",
        )
        parent = sha
    if not any(isinstance(c, dict) and c.get("id") == after for c in commits):
        recording.record_commit(repository, after, pushed_at=pushed, pushed_branch=branch)
    if branch != default:
        return f"push to {branch}: {len(commits)} commit(s) recorded"
    moved = recording.advance_default_branch(repository, after)
    kind = "force push" if forced else "push"
    return f"{kind} to {branch}: {len(commits)} commit(s); {moved} commit(s) placed on the branch"


PULL_ACTIONS = {"opened", "synchronize", "reopened", "closed", "edited"}


@handles("pull_request")
def on_pull_request(repository: Repository, payload: dict[str, Any]) -> str:
    action = str(payload.get("action") or "")
    if action not in PULL_ACTIONS:
        raise Ignored(f"pull_request {action!r} changes nothing citriage tracks")
    pull = _object(payload, "pull_request")
    head = pull["head"]
    head_sha = recording.checked_sha(head["sha"], "the pull request's head")
    recording.record_pull_request(
        repository,
        int(pull["number"]),
        head_sha=head_sha,
        title=str(pull.get("title") or ""),
        author_login=str((pull.get("user") or {}).get("login") or ""),
        state=str(pull.get("state") or "open"),
        merged=bool(pull.get("merged")),
        head_ref=str(head.get("ref") or ""),
        base_ref=str((pull.get("base") or {}).get("ref") or ""),
        head_repository=str((head.get("repo") or {}).get("full_name") or ""),
        opened_at=parse_time(pull.get("created_at")),
        closed_at=parse_time(pull.get("closed_at")),
        updated_at=parse_time(pull.get("updated_at")),
    )
    return f"pull request #{pull['number']} {action} (head {head_sha[:10]})"


OPT_OUT, OPT_IN = "/citriage opt-out", "/citriage opt-in"


@handles("issue_comment")
def on_issue_comment(repository: Repository, payload: dict[str, Any]) -> str:
    """`/citriage opt-out` (or `opt-in`) in a comment: stop (or resume) commenting on the
    commenter's pull requests."""
    if payload.get("action") != "created":
        raise Ignored("only new comments can carry commands")
    comment = _object(payload, "comment")
    body = str(comment.get("body") or "").strip().lower()
    login = str((comment.get("user") or {}).get("login") or "")[:100]
    if body.startswith(OPT_OUT):
        CommentOptOut.objects.get_or_create(login=login, defaults={"source": "comment"})
        return f"{login} opted out of citriage comments"
    if body.startswith(OPT_IN):
        CommentOptOut.objects.filter(login__iexact=login).delete()
        return f"{login} opted in to citriage comments"
    raise Ignored("not a citriage command")


# -- the App's installations -----------------------------------------------------------

INSTALLED = {"created", "unsuspend", "new_permissions_accepted"}
REMOVED = {"deleted", "suspend"}


def _repositories(items: Any) -> list[str]:
    if not isinstance(items, list):
        return []
    return [str(r["full_name"]) for r in items if isinstance(r, dict) and r.get("full_name")]


def _installation_changed(installation: int, added: list[str], removed: list[str]) -> str:
    """Remember the installation on the repositories it now covers (watching those not
    watched yet, through GitHub Actions), and stop calling GitHub for the others."""
    for full_name in added:
        repository = recording.get_repository(
            full_name, create=True, providers=[Provider.GITHUB_ACTIONS]
        )
        github_app.remember_installation(repository, installation)
    gone = 0
    for full_name in removed:
        owner, _, name = full_name.partition("/")
        for repository in Repository.objects.filter(owner=owner, name=name):
            github_app.remember_installation(repository, None)
            gone += 1
    return f"installation {installation}: {len(added)} repositories added, {gone} removed"


@handles_account("installation")
def on_installation(payload: dict[str, Any]) -> str:
    action = str(payload.get("action") or "")
    installation = int(_object(payload, "installation")["id"])
    listed = _repositories(payload.get("repositories"))
    if action in REMOVED:
        if not listed:  # a suspension may not list them: every repository it served
            listed = [
                r.full_name
                for r in Repository.objects.all()
                if r.settings.get(github_app.INSTALLATION) == installation
            ]
        return _installation_changed(installation, [], listed)
    if action in INSTALLED:
        return _installation_changed(installation, listed, [])
    raise Ignored(f"installation {action!r} changes nothing citriage tracks")


@handles_account("installation_repositories")
def on_installation_repositories(payload: dict[str, Any]) -> str:
    installation = int(_object(payload, "installation")["id"])
    return _installation_changed(
        installation,
        _repositories(payload.get("repositories_added")),
        _repositories(payload.get("repositories_removed")),
    )
