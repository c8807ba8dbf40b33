"""Test results: every test of a repository, what each job attempt's tests did.

Scale: a passing case is not a row. A run (the tests of one job attempt) records the
set of tests that ran as a `TestSet`, shared by every run that ran the same tests
(consecutive commits mostly do), and a row per test that did not simply pass:
failed, errored, skipped, or passed only after failing first (flaky). "Did test T
pass in run R" is "T is in R's set and has no row in R". History per test, job,
commit, branch and across reruns (each attempt is its own run) reads the runs of a
job and their few sets, and the rows of the test.
"""

from __future__ import annotations

import hashlib

import numpy as np
import zstandard
from django.db import models
from django.utils import timezone

from citriage.ci.models import JobAttempt, Repository


class Test(models.Model):
    """A test of a repository: its suite (class, module, file) and name, normalised."""

    __test__ = False  # a model, not a test class for pytest

    # Indexed by the unique (repository, key) constraint: no index of its own.
    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="tests", db_index=False
    )
    key = models.CharField(max_length=40, help_text="sha1 of the normalised suite and name")
    suite = models.TextField(blank=True)
    name = models.TextField()
    file = models.CharField(max_length=500, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    # Kept up to date at ingestion, for the lists (failures are few; counting them is cheap
    # but a list of "most failing" over all tests would count them all).
    failures = models.PositiveIntegerField(default=0)
    last_failed_at = models.DateTimeField(null=True, blank=True)
    first_failed_at = models.DateTimeField(null=True, blank=True)
    # Job names the test ran in (where to look for its history).
    jobs = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint("repository", "key", name="unique_test")]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{self.suite}::{self.name}" if self.suite else self.name


def encode_ids(ids: np.ndarray) -> bytes:
    """Sorted test ids, delta-encoded and compressed (runs of consecutive ids shrink to
    almost nothing)."""
    deltas = np.diff(np.asarray(ids, dtype="<i8"), prepend=np.int64(0))
    return zstandard.ZstdCompressor(level=3).compress(deltas.astype("<i8").tobytes())


def decode_ids(blob: bytes | memoryview) -> np.ndarray:
    raw = zstandard.ZstdDecompressor().decompress(bytes(blob))
    return np.cumsum(np.frombuffer(raw, dtype="<i8"))


class TestSet(models.Model):
    """The tests that ran in some runs: sorted test ids, compressed, shared by every run
    that ran exactly these tests."""

    __test__ = False

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE)
    digest = models.CharField(max_length=64)
    count = models.PositiveIntegerField()
    ids = models.BinaryField()
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint("repository", "digest", name="unique_test_set")]

    @staticmethod
    def digest_of(ids: np.ndarray) -> str:
        return hashlib.sha256(np.asarray(ids, dtype="<i8").tobytes()).hexdigest()

    def test_ids(self) -> np.ndarray:
        return decode_ids(self.ids)


class Source(models.TextChoices):
    CIRCLECI = "circleci", "CircleCI test results"
    ARTIFACT = "artifact", "GitHub Actions artifact"
    UPLOAD = "upload", "upload"
    LOG = "log", "failed tests read from the log"


class TestRun(models.Model):
    """The tests of one job attempt (from all its reports)."""

    __test__ = False

    job = models.OneToOneField(
        JobAttempt, on_delete=models.CASCADE, primary_key=True, related_name="test_run"
    )
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE)
    sha = models.CharField(max_length=40)
    job_name = models.CharField(max_length=255)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Null: only the failures are known (read from a log).
    test_set = models.ForeignKey(TestSet, null=True, blank=True, on_delete=models.PROTECT)
    sources = models.JSONField(default=list)
    # Distinct tests, by final outcome (flaky: passed after failing in the same run).
    tests = models.PositiveIntegerField(default=0)
    passed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    flaky = models.PositiveIntegerField(default=0)
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["repository", "job_name", "-finished_at"]),
            models.Index(fields=["repository", "sha"]),
        ]

    @property
    def failing(self) -> int:
        return self.failed + self.errors


class TestReport(models.Model):
    """One report stored into a run: re-ingesting the same bytes changes nothing."""

    __test__ = False

    run = models.ForeignKey(TestRun, on_delete=models.CASCADE, related_name="reports")
    source = models.CharField(max_length=20, choices=Source.choices)
    name = models.CharField(max_length=500, blank=True, help_text="file or artifact name")
    format = models.CharField(max_length=30)
    digest = models.CharField(max_length=64, help_text="sha256 of the report as received")
    # What the report holds, counted from its elements (see testreports.model.Counts).
    tests = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    reruns = models.PositiveIntegerField(default=0)
    suite_errors = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint("run", "digest", name="unique_test_report")]

    def counts(self) -> dict[str, int]:
        return {
            "tests": self.tests,
            "failures": self.failures,
            "errors": self.errors,
            "skipped": self.skipped,
            "reruns": self.reruns,
            "suite_errors": self.suite_errors,
        }


class Outcome(models.TextChoices):
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    FLAKY = "flaky", "passed on retry"


FAILING = (Outcome.FAILED, Outcome.ERROR)


class TestResult(models.Model):
    """A test that did not simply pass in a run."""

    __test__ = False

    # Indexed by the unique (run, test) and the (test, -finished_at) indexes.
    run = models.ForeignKey(
        TestRun, on_delete=models.CASCADE, related_name="results", db_index=False
    )
    test = models.ForeignKey(Test, on_delete=models.CASCADE, related_name="results", db_index=False)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    retries = models.PositiveIntegerField(default=0, help_text="failed attempts before the last")
    message = models.TextField(blank=True)
    details = models.TextField(blank=True)
    kind = models.CharField(max_length=300, blank=True)
    signature = models.CharField(max_length=300, blank=True)
    duration = models.FloatField(null=True, blank=True)
    # Copied from the run: history reads the rows of a test without joins.
    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint("run", "test", name="unique_test_result")]
        indexes = [
            models.Index(fields=["test", "-finished_at"]),
            models.Index(fields=["repository", "outcome", "-finished_at"]),
            models.Index(fields=["signature"]),
        ]

    @property
    def failing(self) -> bool:
        return self.outcome in FAILING


class FetchState(models.TextChoices):
    PENDING = "pending"  # the job finished; its test results are owed
    PENDING_RETRY = "pending_retry"  # a transient error: tried again later
    READ_LOG = "read_log"  # no report: the failed tests are read from the log once stored
    FETCHED = "fetched"
    NONE = "none"  # the provider had no test results (and the log named no failed test)
    ERROR = "error"


OWED = (FetchState.PENDING, FetchState.PENDING_RETRY, FetchState.READ_LOG)


class TestFetch(models.Model):
    """The test results of a finished job attempt are owed (citriage.queueing)."""

    __test__ = False

    job = models.OneToOneField(
        JobAttempt, on_delete=models.CASCADE, primary_key=True, related_name="test_fetch"
    )
    state = models.CharField(max_length=20, choices=FetchState.choices)
    attempts = models.PositiveIntegerField(default=0)
    fetch_after = models.DateTimeField(null=True, blank=True)
    task = models.UUIDField(null=True, blank=True)
    error = models.TextField(blank=True)
    note = models.CharField(max_length=500, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["fetch_after"],
                condition=models.Q(state__in=["pending", "pending_retry", "read_log"]),
                name="test_fetch_owed_idx",
            )
        ]


class RunArtifacts(models.Model):
    """The artifact list of a GitHub Actions workflow run, listed once for all its jobs.

    Artifacts belong to the run, not to a job: finished jobs of the run wait for the
    list (their TestFetch rows are pending without `fetch_after`) and one listing owed
    here (citriage.queueing, `next_at`) serves every job that had finished when it began;
    jobs finishing later owe another. The list is kept for the jobs' fetches to read.
    """

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="+")
    run_id = models.CharField(max_length=100)
    next_at = models.DateTimeField(null=True, blank=True, help_text="a listing is owed from")
    task = models.UUIDField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    listed_at = models.DateTimeField(null=True, blank=True, help_text="when the list was asked")
    artifacts = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint("repository", "run_id", name="unique_run_artifacts")]
        indexes = [
            models.Index(
                fields=["next_at"],
                condition=models.Q(next_at__isnull=False),
                name="run_artifacts_due_idx",
            )
        ]


class UploadToken(models.Model):
    """A token that lets a CI job upload test reports for one repository. Only its hash is
    kept; the token is shown once, when created."""

    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="upload_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, help_text="the token's first characters")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.CharField(max_length=100, blank=True)
    created = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    @property
    def active(self) -> bool:
        return self.revoked_at is None
