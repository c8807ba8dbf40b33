"""Reading the CI configuration of a commit, and the jobs it expects.

A commit's configuration is owed from the moment citriage sees the commit (a
CommitConfig row; see citriage.queueing). The read lists `.circleci` and
`.github/workflows` at the commit through the GitHub App (contents API), fetches
the files whose git blob it has not seen (a file that did not change between
commits is fetched once), and works out the expected jobs for every way the commit
is known to be built (`contexts_of`): pushed to the default branch or another
branch, the head of a pull request. When that knowledge changes (a pull request is
opened, the commit lands on the default branch) the jobs are worked out again from
the files already read.

Errors follow the rules of log fetches (citriage.ci.fetching): a transient one
(5xx, rate limit, the App not configured) is tried again after a growing delay,
CITRIAGE_LOG_FETCH_ATTEMPTS times; a permanent one (no permission) is recorded as
the reason. A file that cannot be understood is named with why, never a crash.
"""

from __future__ import annotations

from dataclasses import replace

import zstandard
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from citriage import queueing
from citriage.ci import github_app, recording, signals
from citriage.ci.models import (
    Commit,
    CommitConfig,
    ConfigBlob,
    ConfigState,
    JobAttempt,
    Provider,
    PullRequestHead,
    Repository,
    WorkflowRun,
)
from citriage.ciconfig import actions, circleci
from citriage.ciconfig.plan import CIRCLECI_CONFIG, WORKFLOWS_DIR, Context, Expectation, merge
from citriage.ciconfig.yamlload import MAX_BYTES, ConfigError
from citriage.providers.base import ProviderError, TransientProviderError
from citriage.providers.github import GitHub

MAX_ERROR = 2000
FORK_BRANCH = "pull/"  # CircleCI builds a fork's pull request #N as branch pull/N


def due() -> QuerySet[CommitConfig]:
    return CommitConfig.objects.filter(due_at__lte=timezone.now())


# -- how a commit is built -------------------------------------------------------------------


def contexts_of(repository: Repository, sha: str) -> list[Context]:
    """Every way the commit is known to be built: pushed to the default branch (for sure
    if a push made it the head, or jobs ran for it), to another branch, the head of a
    pull request (and, from this repository, a push of its branch)."""
    full_name, default = repository.full_name, repository.default_branch
    commit = Commit.objects.filter(repository=repository, sha=sha).first()
    jobs = JobAttempt.objects.filter(repository=repository, sha=sha)
    runs = WorkflowRun.objects.filter(repository=repository, sha=sha)
    built = jobs.exists() or runs.exists()
    contexts: dict[tuple[str, str, int | None], Context] = {}

    def add(context: Context) -> None:
        key = (context.event, context.branch, context.pull)
        known = contexts.get(key)
        if known is None or (context.certain and not known.certain):
            contexts[key] = context

    base = Context("push", default, repository=full_name, sha=sha, default_branch=default)
    if commit is not None and commit.branch_position is not None:
        newest = not Commit.objects.filter(
            repository=repository, branch_position__gt=commit.branch_position
        ).exists()
        pushed = commit.pushed_branch == default
        add(replace(base, certain=pushed or built, superseded=not newest))
    if commit is not None and commit.pushed_at is not None and commit.pushed_branch:
        newer = Commit.objects.filter(
            repository=repository,
            pushed_branch=commit.pushed_branch,
            pushed_at__gt=commit.pushed_at,
        ).exists()
        add(replace(base, branch=commit.pushed_branch, superseded=newer))
    heads = PullRequestHead.objects.filter(pull__repository=repository, sha=sha)
    for head in heads.select_related("pull"):
        pull = head.pull
        fork = bool(pull.head_repository) and pull.head_repository != full_name
        superseded = pull.head_sha != sha
        add(
            replace(
                base,
                event="pull_request",
                branch=pull.head_ref,
                base=pull.base_ref or default,
                pull=pull.number,
                fork=fork,
                superseded=superseded,
            )
        )
        if not fork and pull.head_ref:
            # its branch is pushed too (unsure while the head's repository is not known)
            add(
                replace(
                    base,
                    branch=pull.head_ref,
                    certain=bool(pull.head_repository),
                    superseded=superseded,
                )
            )
    for branch in runs.filter(event="push").exclude(branch="").values_list("branch", flat=True):
        add(replace(base, branch=branch))
    circleci_branches = jobs.filter(provider=Provider.CIRCLECI).exclude(branch="")
    for branch in circleci_branches.values_list("branch", flat=True).distinct():
        number = branch.removeprefix(FORK_BRANCH)
        if branch.startswith(FORK_BRANCH) and number.isdigit():
            add(replace(base, event="pull_request", branch=branch, pull=int(number), fork=True))
        else:
            add(replace(base, branch=branch))
    return list(contexts.values())


# -- reading the files -----------------------------------------------------------------------


def _wanted(repository: Repository) -> list[str]:
    folders = []
    if Provider.CIRCLECI in repository.providers:
        folders.append(".circleci")
    if Provider.GITHUB_ACTIONS in repository.providers:
        folders.append(WORKFLOWS_DIR)
    return folders


def _is_config(path: str) -> bool:
    return path == CIRCLECI_CONFIG or actions.is_workflow(path)


def list_files(github: GitHub, repository: Repository, sha: str) -> dict[str, str | None]:
    """Path -> git blob id of each configuration file at the commit (None: too big to read)."""
    files: dict[str, str | None] = {}
    for folder in _wanted(repository):
        for entry in github.directory(repository.owner, repository.name, folder, sha) or []:
            if _is_config(entry.path):
                files[entry.path] = entry.sha if entry.size <= MAX_BYTES else None
    return files


def fetch_missing(
    github: GitHub, repository: Repository, sha: str, files: dict[str, str | None]
) -> int:
    """Fetch the files whose blob is not stored yet; how many were fetched."""
    blobs = [blob for blob in files.values() if blob]
    known = set(ConfigBlob.objects.filter(blob_sha__in=blobs).values_list("blob_sha", flat=True))
    fetched = 0
    for path, blob in sorted(files.items()):
        if blob is None or blob in known:
            continue
        data = github.file(repository.owner, repository.name, path, sha)
        ConfigBlob.objects.get_or_create(
            blob_sha=blob,
            defaults={"size": len(data), "data": zstandard.ZstdCompressor().compress(data)},
        )
        known.add(blob)
        fetched += 1
    return fetched


def texts(files: dict[str, str | None]) -> dict[str, bytes]:
    """The stored bytes of each file read (path -> content)."""
    wanted = [blob for blob in files.values() if blob]
    blobs = {b.blob_sha: bytes(b.data) for b in ConfigBlob.objects.filter(blob_sha__in=wanted)}
    decompress = zstandard.ZstdDecompressor().decompress
    return {path: decompress(blobs[blob]) for path, blob in files.items() if blob in blobs}


# -- working out the expected jobs -------------------------------------------------------------


def expectation(
    repository: Repository, files: dict[str, bytes], contexts: list[Context]
) -> Expectation:
    """The jobs the files expect in any of the contexts."""
    found = []
    for context in contexts:
        if Provider.CIRCLECI in repository.providers and CIRCLECI_CONFIG in files:
            try:
                found.append(circleci.expected_jobs(files[CIRCLECI_CONFIG], context))
            except ConfigError as exc:
                found.append(Expectation(problems=[f"{CIRCLECI_CONFIG}: {exc}"]))
        if Provider.GITHUB_ACTIONS in repository.providers:
            found.append(actions.expected_jobs(files, context))
    merged = merge(found)
    if not contexts:
        merged.notes.append("no push or pull request that builds this commit is known yet")
    return merged


def read(config: CommitConfig) -> str:
    """Read (or, with the files known, only work out again) the configuration of one
    commit; a note of the outcome."""
    repository = config.repository
    marked = config.due_at
    try:
        if config.files is None:
            github = github_app.for_repository(repository)
            try:
                files = list_files(github, repository, config.sha)
                fetch_missing(github, repository, config.sha, files)
            finally:
                github.close()
            CommitConfig.objects.filter(pk=config.pk).update(files=files)
            config.files = dict(files)
    except (TransientProviderError, github_app.NotConfigured) as exc:
        return _try_later(config, str(exc))
    except ProviderError as exc:
        return _give_up(config, str(exc))
    listed: dict[str, str | None] = config.files or {}
    stored = texts(listed)
    if len(stored) < sum(1 for blob in listed.values() if blob):  # a blob went missing
        CommitConfig.objects.filter(pk=config.pk).update(files=None)
        return _try_later(config, "a stored configuration file is missing")
    contexts = contexts_of(repository, config.sha)
    expected = expectation(repository, stored, contexts)
    too_big = [
        f"{path}: more than {MAX_BYTES:,} bytes, not read"
        for path, blob in listed.items()
        if not blob
    ]
    expected.problems = too_big + expected.problems
    recording.record_expected_jobs(config, expected, [c.describe() for c in contexts])
    # done, unless something changed meanwhile (then it is due again)
    CommitConfig.objects.filter(pk=config.pk, due_at=marked).update(due_at=None)
    queueing.finished(CommitConfig, config.pk, "task", attempts=0)
    sure = sum(job.certain for job in expected.jobs)
    return f"{len(listed)} file(s); {sure} job(s) expected, {len(expected.jobs) - sure} may run" + (
        f"; {len(expected.problems)} problem(s)" if expected.problems else ""
    )


def _try_later(config: CommitConfig, problem: str) -> str:
    """A transient failure: owed again after a growing delay (the rule of log fetches)."""
    attempts = config.attempts + 1
    when = queueing.retry_at(attempts, settings.LOG_FETCH_ATTEMPTS)
    if when is None:
        return _give_up(config, f"gave up after {attempts} tries: {problem}", attempts=attempts)
    queueing.finished(
        CommitConfig,
        config.pk,
        "task",
        state=ConfigState.PENDING_RETRY,
        due_at=when,
        error=problem[:MAX_ERROR],
        attempts=attempts,
    )
    return f"pending retry (try {attempts}, next at {when:%H:%M:%S}): {problem}"


def _give_up(config: CommitConfig, problem: str, *, attempts: int | None = None) -> str:
    with transaction.atomic():
        tries = attempts if attempts is not None else config.attempts + 1
        queueing.finished(
            CommitConfig,
            config.pk,
            "task",
            state=ConfigState.ERROR,
            due_at=None,
            error=problem[:MAX_ERROR],
            attempts=tries,
        )
        # the summary says why no job is expected
        signals.commit_changed.send(Repository, repository=config.repository, sha=config.sha)
    return f"error: {problem}"
