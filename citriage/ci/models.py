"""What citriage knows about CI: repositories, commits, pull requests, job attempts, steps, logs."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from citriage.rules import step_failed


class Provider(models.TextChoices):
    CIRCLECI = "circleci", "CircleCI"
    GITHUB_ACTIONS = "github-actions", "GitHub Actions"
    UPLOAD = "upload", "uploaded test reports"


class Repository(models.Model):
    owner = models.CharField(max_length=100)
    name = models.CharField(max_length=100)
    default_branch = models.CharField(max_length=255, default="main")
    # CI providers watched for this repository (values of Provider).
    providers = models.JSONField(default=list, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint("owner", "name", name="unique_repository")]
        verbose_name_plural = "repositories"

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class Commit(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="commits")
    sha = models.CharField(max_length=40)
    parents = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)
    author_name = models.CharField(max_length=255, blank=True)
    author_email = models.CharField(max_length=255, blank=True)
    author_login = models.CharField(max_length=100, blank=True)
    committed_at = models.DateTimeField(null=True, blank=True)
    # Position on the default branch's first-parent history (higher is newer); null when
    # the commit is not (or no longer) on the default branch.
    branch_position = models.BigIntegerField(null=True, blank=True, db_index=True)
    # When a push made it the head of `pushed_branch`: CI runs for the head of a push only.
    pushed_at = models.DateTimeField(null=True, blank=True)
    pushed_branch = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint("repository", "sha", name="unique_commit")]

    def __str__(self) -> str:
        return self.sha[:10]

    @property
    def title(self) -> str:
        return self.message.split("\n", 1)[0]


class PullRequest(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="pulls")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=500, blank=True)
    author_login = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=20, default="open")
    merged = models.BooleanField(default=False)
    head_sha = models.CharField(max_length=40, blank=True, db_index=True)
    head_ref = models.CharField(max_length=255, blank=True)
    # owner/name of the repository the head branch lives in ("": not known)
    head_repository = models.CharField(max_length=201, blank=True)
    base_ref = models.CharField(max_length=255, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # GitHub's time of the state recorded: an older delivery does not undo it.
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint("repository", "number", name="unique_pull")]

    def __str__(self) -> str:
        return f"{self.repository}#{self.number}"


class PullRequestHead(models.Model):
    """Every commit that was the head of a pull request, in the order pushed."""

    pull = models.ForeignKey(PullRequest, on_delete=models.CASCADE, related_name="heads")
    sha = models.CharField(max_length=40, db_index=True)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint("pull", "sha", name="unique_pull_head")]
        ordering = ["seen_at", "id"]


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"


class Conclusion(models.TextChoices):
    SUCCESS = "success"
    FAILURE = "failure"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    NEUTRAL = "neutral"
    INFRA_FAIL = "infrastructure_fail"
    NONE = "", "(none yet)"


FAILED_CONCLUSIONS = (Conclusion.FAILURE, Conclusion.TIMED_OUT, Conclusion.INFRA_FAIL)


class LogState(models.TextChoices):
    """The logs of an attempt: of its failed steps when it failed; of every step when it
    passed and was sampled for a passing log (citriage.ci.passing)."""

    NOT_NEEDED = "not_needed"  # the job passed (not sampled), or has not finished
    PENDING = "pending"  # failed (or sampled); logs not fetched yet
    FETCHED = "fetched"  # the logs of every failed step (every step, when sampled) are stored
    NO_LOG = "no_log"  # the provider reported no failing step (no step) with output
    PENDING_RETRY = "pending_retry"  # fetching failed for a transient reason; will retry
    ERROR = "error"  # fetching failed for good (see log_error)
    EXPIRED = "expired"  # fetched once, removed by retention (citriage.ops.retention)


LOGS_OWED = (LogState.PENDING, LogState.PENDING_RETRY)
# A passing run in these states was sampled for its logs (a failed sample is tried again
# with the next passing run).
SAMPLED = [LogState.PENDING, LogState.PENDING_RETRY, LogState.FETCHED]


class JobAttempt(models.Model):
    """One run of one CI job. A rerun is a new row, never an overwrite."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="jobs")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    provider_id = models.CharField(max_length=100, help_text="the provider's id of this run")
    name = models.CharField(max_length=255)
    workflow = models.CharField(max_length=255, blank=True)
    workflow_id = models.CharField(max_length=100, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    conclusion = models.CharField(max_length=30, choices=Conclusion.choices, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    url = models.URLField(max_length=500, blank=True)
    branch = models.CharField(max_length=255, blank=True)
    sha = models.CharField(max_length=40, db_index=True)
    commit = models.ForeignKey(
        Commit, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    log_state = models.CharField(
        max_length=20, choices=LogState.choices, default=LogState.NOT_NEEDED
    )
    log_error = models.TextField(blank=True)
    fetch_attempts = models.PositiveIntegerField(default=0)
    # The logs are owed (pending, pending retry) from `fetch_after`; `fetch_task` is the
    # task queued to fetch them (see citriage.queueing): one at a time per attempt.
    fetch_after = models.DateTimeField(null=True, blank=True)
    fetch_task = models.UUIDField(null=True, blank=True)
    # Provider details kept for later calls (CircleCI's v2 job id, for reruns).
    details = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "repository", "provider", "provider_id", name="unique_job_attempt"
            )
        ]
        indexes = [
            models.Index(fields=["repository", "sha", "name"]),
            models.Index(fields=["-finished_at"]),
            models.Index(fields=["conclusion", "-finished_at"]),
            models.Index(
                fields=["fetch_after"],
                condition=models.Q(log_state__in=["pending", "pending_retry"]),
                name="job_logs_owed_idx",
            ),
            # passing runs sampled for their logs (citriage.ci.passing.owes_log)
            models.Index(
                fields=["repository", "name", "created"],
                condition=models.Q(conclusion="success", log_state__in=SAMPLED),
                name="job_passing_sampled_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.attempt} ({self.sha[:8]})"

    @property
    def failed(self) -> bool:
        return self.conclusion in FAILED_CONCLUSIONS


class Step(models.Model):
    job = models.ForeignKey(JobAttempt, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=500)
    index = models.PositiveIntegerField()
    container = models.PositiveIntegerField(default=0, help_text="parallel container index")
    status = models.CharField(max_length=30, blank=True)
    timed_out = models.BooleanField(default=False)
    exit_code = models.IntegerField(null=True, blank=True)
    output_url = models.URLField(max_length=2000, blank=True)
    has_output = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint("job", "index", "container", name="unique_step")]
        ordering = ["index", "container"]

    def __str__(self) -> str:
        return f"{self.name} [{self.container}]" if self.container else self.name

    @property
    def failed(self) -> bool:
        return step_failed(self.status, self.timed_out)


class StoredLog(models.Model):
    """The stripped output of one step, kept zstd-compressed in the log store."""

    step = models.OneToOneField(Step, on_delete=models.CASCADE, related_name="log")
    job = models.ForeignKey(JobAttempt, on_delete=models.CASCADE, related_name="logs")
    storage_key = models.CharField(max_length=300, unique=True)
    raw_bytes = models.BigIntegerField()
    stripped_bytes = models.BigIntegerField()
    line_count = models.PositiveIntegerField()
    truncated = models.BooleanField(default=False)
    stripped = models.BooleanField(default=False)
    checksum = models.CharField(max_length=64, help_text="sha256 of the stripped text")
    created = models.DateTimeField(default=timezone.now)
    # The log of a passing run, kept as a baseline for the failure lines of failed logs of
    # the same job and step (citriage.ci.passing): never scanned with patterns.
    passing = models.BooleanField(default=False)
    # Scan state: scanned with every pattern whose id is at most `scanned_through`
    # (retired patterns excepted), unless a full rescan was asked for.
    scanned_through = models.BigIntegerField(default=0)
    scanned_at = models.DateTimeField(null=True, blank=True)
    needs_full_rescan = models.BooleanField(default=False)
    scan_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["scanned_through"]),
            models.Index(
                fields=["needs_full_rescan"],
                condition=models.Q(needs_full_rescan=True),
                name="log_full_rescan_idx",
            ),
            models.Index(fields=["job"], condition=models.Q(passing=True), name="log_passing_idx"),
        ]

    def __str__(self) -> str:
        return f"log of {self.step} in {self.job}"


class ExternalCheck(models.Model):
    """A status or check run on a commit that citriage does not ingest as a CI job
    (other apps' checks, other status contexts): shown as "foreign" in summaries."""

    class Kind(models.TextChoices):
        STATUS = "status"
        CHECK_RUN = "check_run"

    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="external_checks"
    )
    sha = models.CharField(max_length=40, db_index=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=255, help_text="status context or check run name")
    app = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=30, help_text="status state, or check status")
    conclusion = models.CharField(max_length=30, blank=True)
    description = models.TextField(blank=True)
    url = models.URLField(max_length=1000, blank=True)
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "repository", "sha", "kind", "name", name="unique_external_check"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.conclusion or self.state}"

    @property
    def failed(self) -> bool:
        return self.state in ("failure", "error") or self.conclusion in (
            "failure",
            "timed_out",
            "action_required",
            "startup_failure",
        )


class RerunRequest(models.Model):
    """Someone (or the auto-rerun) asked the provider to run a failed job again."""

    job = models.ForeignKey(JobAttempt, on_delete=models.CASCADE, related_name="reruns")
    requested_by = models.CharField(max_length=100, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    automatic = models.BooleanField(default=False)
    ok = models.BooleanField(default=False)
    response = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, help_text="null while queued")

    class Meta:
        indexes = [models.Index(fields=["job", "-requested_at"])]


class RateBudget(models.Model):
    """GitHub's budget of calls for one identity (an App installation, the App, a token),
    as the last answer gave it; shared by every process (see citriage.ci.ratelimits)."""

    identity = models.CharField(max_length=100)
    resource = models.CharField(max_length=40, default="core")
    limit = models.PositiveIntegerField(default=0)
    remaining = models.PositiveIntegerField(default=0)
    resets_at = models.DateTimeField(null=True, blank=True)
    held_until = models.DateTimeField(
        null=True, blank=True, help_text="GitHub asked for no calls before then"
    )
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint("identity", "resource", name="unique_rate_budget")]

    def __str__(self) -> str:
        return f"{self.identity} {self.resource}: {self.remaining}/{self.limit}"


class CachedResponse(models.Model):
    """A GitHub answer kept with its ETag, so the same GET is asked conditionally (a 304
    costs no budget). Keyed by a hash of identity, URL and query."""

    key = models.CharField(max_length=64, unique=True)
    etag = models.CharField(max_length=200)
    body = models.BinaryField(help_text="zstd-compressed")
    next_url = models.TextField(blank=True)
    used_at = models.DateTimeField(default=timezone.now, db_index=True)


class WorkflowRun(models.Model):
    """A GitHub Actions workflow run as `workflow_run` deliveries (and the API) describe
    it: how a commit was built, and whether a workflow failed to start."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="runs")
    run_id = models.CharField(max_length=100)
    sha = models.CharField(max_length=40, db_index=True)
    name = models.CharField(max_length=255, blank=True)
    path = models.CharField(max_length=500, blank=True, help_text="the workflow file")
    event = models.CharField(max_length=50, blank=True)
    branch = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    conclusion = models.CharField(max_length=30, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    url = models.URLField(max_length=500, blank=True)
    updated = models.DateTimeField(null=True, blank=True, help_text="GitHub's time of the state")
    jobs = models.IntegerField(null=True, blank=True, help_text="jobs GitHub listed when it ended")

    class Meta:
        constraints = [models.UniqueConstraint("repository", "run_id", name="unique_workflow_run")]

    def __str__(self) -> str:
        return f"{self.name or self.path} #{self.run_id}"

    @property
    def failed_to_start(self) -> bool:
        """Ended without running anything: a `startup_failure`, or a failure with no jobs
        (GitHub's answer to a workflow file it cannot read)."""
        if self.conclusion == "startup_failure":
            return True
        return (
            self.status == JobStatus.COMPLETED
            and self.jobs == 0
            and self.conclusion in ("failure", "action_required")
        )


class ConfigBlob(models.Model):
    """A CI configuration file's text, by git blob id: content that did not change
    between commits is fetched once. zstd-compressed."""

    blob_sha = models.CharField(max_length=40, unique=True)
    size = models.PositiveIntegerField()
    data = models.BinaryField()
    fetched_at = models.DateTimeField(default=timezone.now)


class ConfigState(models.TextChoices):
    OWED = "owed", "to read"  # listed and read (again) when due
    READ = "read"
    PENDING_RETRY = "pending_retry", "pending retry"  # GitHub failed for a transient reason
    ERROR = "error"  # could not be read (see error)


class CommitConfig(models.Model):
    """The CI configuration of one commit and the jobs it expects (ExpectedJob): owed
    from the moment citriage sees the commit, read by a task (see citriage.queueing),
    evaluated again when what is known of the commit's branches changes."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE)
    sha = models.CharField(max_length=40)
    seen_at = models.DateTimeField(default=timezone.now, help_text="first seen by citriage")
    state = models.CharField(max_length=20, choices=ConfigState.choices, default=ConfigState.OWED)
    # path -> git blob id of every configuration file at the commit; null: not listed yet
    files = models.JSONField(null=True, blank=True)
    problems = models.JSONField(default=list, blank=True, help_text="files not understood, why")
    notes = models.JSONField(default=list, blank=True)
    contexts = models.JSONField(default=list, blank=True, help_text="how the commit is built")
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True)
    task = models.UUIDField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint("repository", "sha", name="unique_commit_config")]
        indexes = [
            models.Index(
                fields=["due_at"], condition=models.Q(due_at__isnull=False), name="config_due_idx"
            )
        ]

    def __str__(self) -> str:
        return f"CI configuration of {self.sha[:10]}: {self.state}"


class ExpectedJob(models.Model):
    """A job the commit's configuration asks for, under the name its provider reports."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE)
    sha = models.CharField(max_length=40)
    provider = models.CharField(max_length=20, choices=Provider.choices)
    name = models.CharField(max_length=255)
    workflow = models.CharField(max_length=255, blank=True)
    path = models.CharField(max_length=500, blank=True, help_text="the configuration file")
    certain = models.BooleanField(default=True, help_text="false: it may run")
    reason = models.TextField(blank=True, help_text="why it may only run; else what asks for it")
    needs = models.JSONField(default=list, blank=True, help_text="names of the jobs it waits for")
    after_failure = models.BooleanField(
        default=False, help_text="runs even when a job it needs failed (always(), failure())"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "repository", "sha", "provider", "name", name="unique_expected_job"
            )
        ]
        indexes = [models.Index(fields=["repository", "sha"])]

    def __str__(self) -> str:
        return f"{self.name} ({'expected' if self.certain else 'may run'})"
