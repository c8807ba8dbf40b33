"""Django settings, all from environment variables with defaults that work locally.

Every variable is listed in the README's configuration table.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


BASE_DIR = Path(__file__).resolve().parent
# Absolute, whatever was given (a relative path is taken from the current directory): the
# database URL and the log store's file:// URL need an absolute path.
DATA_DIR = (
    Path(env("CITRIAGE_DATA_DIR", str(Path.home() / ".local" / "share" / "citriage")))
    .expanduser()
    .resolve()
)
DATA_DIR.mkdir(parents=True, exist_ok=True)

# Counters of every citriage process on this machine (web, workers, scheduler) are kept
# in files in this folder (prometheus-client's multiprocess mode), which /metrics adds up.
# Set before anything imports prometheus_client; emptied by `citriage migrate` and `up`.
METRICS_DIR = Path(env("CITRIAGE_METRICS_DIR", str(DATA_DIR / "metrics")))
METRICS_DIR.mkdir(parents=True, exist_ok=True)
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(METRICS_DIR))


def _secret_key() -> str:
    """From the environment; locally, one generated once and kept in the data dir."""
    if key := env("CITRIAGE_SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("CITRIAGE_DEBUG")
ALLOWED_HOSTS = env_list("CITRIAGE_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CITRIAGE_CSRF_TRUSTED_ORIGINS")
# The address people use to reach citriage; links in GitHub comments point here.
PUBLIC_URL = env("CITRIAGE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "citriage.web.apps.GitHubLoginConfig",
    "django_filters",
    "ninja",  # serves the API docs' assets locally (no CDN)
    "django_tables2",
    "django_tasks",
    "django_tasks_db",
    # citriage's apps, lowest first: each may use the ones above it, never those below.
    "citriage.ci",
    "citriage.testresults",
    "citriage.failurelines",
    "citriage.patterns",
    "citriage.flaky",
    "citriage.triage",
    "citriage.github",
    "citriage.ops",
    "citriage.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "citriage.web.middleware.RejectNulMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "citriage.web.access.LoginRequiredForReadingMiddleware",
]

ROOT_URLCONF = "citriage.urls"
WSGI_APPLICATION = "citriage.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],  # our look for django-allauth's pages
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "citriage.web.access.permissions",
            ],
        },
    },
]

# Commands migrate the database before they start; off where `citriage migrate` runs once
# per deployment (containers: workers starting together must not migrate concurrently).
MIGRATE_ON_START = env_bool("CITRIAGE_MIGRATE_ON_START", True)

_SQLITE_DEFAULT = f"sqlite:///{DATA_DIR / 'citriage.sqlite3'}"
# A kept connection is checked before a request reuses it: after the database restarted,
# each web thread's old connection would otherwise fail its next request with a 500.
DATABASES = {
    "default": dj_database_url.parse(
        env("CITRIAGE_DATABASE_URL", _SQLITE_DEFAULT), conn_max_age=60, conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web process read while a worker writes; IMMEDIATE avoids
        # lock-upgrade deadlocks between writers; the timeout waits out a busy writer.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not memory: tests start worker processes that share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-citriage.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "scan"],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Static files are collected into the data dir by the commands that serve pages and by the
# tests (citriage.web.staticfiles.collect, only when the sources changed): hashed names
# served for a year, gzip'd copies beside them.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_KEEP_ONLY_HASHED_FILES = True
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # plotly.js as shipped inside the plotly package (charts work offline, no CDN)
    "citriage.web.staticfiles.PlotlyFinder",
]

# Where stored logs live: any fsspec URL (file://..., s3://bucket/prefix, memory://...).
LOG_STORE_URL = env("CITRIAGE_LOG_STORE", (DATA_DIR / "logs").as_uri())
# The endpoint of an S3-compatible store other than AWS (MinIO, Ceph, ...); credentials come
# from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_DEFAULT_REGION) as usual.
LOG_STORE_ENDPOINT = env("CITRIAGE_LOG_STORE_ENDPOINT")
# Logs longer than this (of stripped text) keep their tail.
LOG_MAX_BYTES = int(env("CITRIAGE_LOG_MAX_BYTES", str(100 * 1024 * 1024)))

# The periodic sweeps of `citriage scheduler`, in seconds.
SCAN_SWEEP_SECONDS = int(env("CITRIAGE_SCAN_SWEEP_SECONDS", "60"))
# Period of the refresh of pattern frequencies and trends shown on the pages (s).
STATS_SWEEP_SECONDS = int(env("CITRIAGE_STATS_SWEEP_SECONDS", "300"))
# A worker whose heartbeat is older than this is presumed dead; its task runs again.
WORKER_STALE_SECONDS = int(env("CITRIAGE_WORKER_STALE_SECONDS", "90"))
# The queue is unhealthy (/readyz?queue=1, `citriage check`) when the oldest due task has
# waited longer than this (s): the workers do not keep up.
QUEUE_STALE_SECONDS = int(env("CITRIAGE_QUEUE_STALE_SECONDS", "900"))

# GitHub: webhook secret, App credentials, API base.
GITHUB_WEBHOOK_SECRET = env("CITRIAGE_GITHUB_WEBHOOK_SECRET")
GITHUB_API_URL = env("CITRIAGE_GITHUB_API_URL", "https://api.github.com").rstrip("/")
GITHUB_APP_ID = env("CITRIAGE_GITHUB_APP_ID")
# PEM text, or the path of a file holding it.
GITHUB_PRIVATE_KEY = env("CITRIAGE_GITHUB_PRIVATE_KEY")
# The web address of GitHub itself (for the App-manifest registration flow).
GITHUB_URL = env("CITRIAGE_GITHUB_URL", "https://github.com").rstrip("/")
# The share of an installation's hourly GitHub budget that reads (log fetches, job lists,
# backfills) leave alone: they wait for the next hour once only this much is left, while
# reports go on until a tenth of it is left.
GITHUB_RATE_RESERVE = float(env("CITRIAGE_GITHUB_RATE_RESERVE", "0.1"))
# Rerun flaky failures on the default branch automatically (off by default).
AUTO_RERUN_FLAKY = env_bool("CITRIAGE_AUTO_RERUN_FLAKY")

# CircleCI: API token and base URL (v1.1 and v2 live under it).
CIRCLECI_TOKEN = env("CITRIAGE_CIRCLECI_TOKEN")
CIRCLECI_URL = env("CITRIAGE_CIRCLECI_URL", "https://circleci.com/api").rstrip("/")

# Outgoing HTTP: timeout per request (s), retries of transient failures, first backoff (s).
HTTP_TIMEOUT = float(env("CITRIAGE_HTTP_TIMEOUT", "30"))
HTTP_RETRIES = int(env("CITRIAGE_HTTP_RETRIES", "4"))
HTTP_BACKOFF = float(env("CITRIAGE_HTTP_BACKOFF", "1"))

# Verdicts that do not count against a change: a commit is green when every failure has one.
EXCUSED_VERDICTS = env_list(
    "CITRIAGE_EXCUSED_VERDICTS",
    "flaky_pattern,flaky_confirmed,flaky_marked,flaky_test,known_problem",
)
# Flaky tests (citriage.flaky): seconds after new test results before a repository's tests
# are checked (a burst costs one check); how often every repository is checked again
# (recovery periods and quarantine expiries); days of "where else it failed".
FLAKY_CHECK_DELAY_SECONDS = int(env("CITRIAGE_FLAKY_CHECK_DELAY_SECONDS", "60"))
FLAKY_SWEEP_SECONDS = int(env("CITRIAGE_FLAKY_SWEEP_SECONDS", "3600"))
SIMILAR_DAYS = int(env("CITRIAGE_SIMILAR_DAYS", "14"))
# What a commit's check run concludes when some failure is not excused: failure or neutral.
CHECK_FAILURE_CONCLUSION = env("CITRIAGE_CHECK_FAILURE_CONCLUSION", "failure")

# What people may file a breakage of the default branch under.
BREAKAGE_CATEGORIES = env_list(
    "CITRIAGE_BREAKAGE_CATEGORIES", "code,infra,external dependency,flaky test,other"
)
# Seconds after the last event for a commit before its summary is computed and posted.
COOL_OFF_SECONDS = int(env("CITRIAGE_COOL_OFF_SECONDS", "120"))
# A job the commit's CI configuration expects and that has not reported this long after
# it could start is missing; a commit's report waits for its expected jobs at most
# EXPECTED_WAIT_SECONDS after the commit was first seen. A repository's settings may
# override both (`expected_grace_seconds`, `expected_wait_seconds`).
EXPECTED_GRACE_SECONDS = int(env("CITRIAGE_EXPECTED_GRACE_SECONDS", "1800"))
EXPECTED_WAIT_SECONDS = int(env("CITRIAGE_EXPECTED_WAIT_SECONDS", "21600"))
# Seconds a commit must be quiet before its verdicts are recomputed (a burst of changes
# costs one recomputation).
VERDICT_REFRESH_SECONDS = float(env("CITRIAGE_VERDICT_REFRESH_SECONDS", "2"))
# When a verdict changes later (a new pattern, a breakage annotated), commits whose jobs
# finished within this many days get their GitHub report updated; older ones do not.
REPORT_REFRESH_DAYS = int(env("CITRIAGE_REPORT_REFRESH_DAYS", "7"))
# Period of the CircleCI backfill sweep (s), and how far back it looks (days).
BACKFILL_SWEEP_SECONDS = int(env("CITRIAGE_BACKFILL_SWEEP_SECONDS", "600"))
BACKFILL_DAYS = int(env("CITRIAGE_BACKFILL_DAYS", "3"))
# Log fetches that failed transiently are retried this many times, with growing delays.
LOG_FETCH_ATTEMPTS = int(env("CITRIAGE_LOG_FETCH_ATTEMPTS", "8"))
# Passing logs kept as baselines for failure lines: a passing run of a job is fetched (every
# step's log) when no passing run of that job was sampled in this many days (0: off); kept
# logs older than PASSING_LOG_KEEP_DAYS are removed by the daily retention pass.
PASSING_LOG_DAYS = int(env("CITRIAGE_PASSING_LOG_DAYS", "7"))
PASSING_LOG_KEEP_DAYS = int(env("CITRIAGE_PASSING_LOG_KEEP_DAYS", "30"))
# Test reports: largest report read (bytes, after gzip) and most test cases in one report.
TEST_REPORT_MAX_BYTES = int(env("CITRIAGE_TEST_REPORT_MAX_BYTES", str(256 * 1024 * 1024)))
TEST_REPORT_MAX_CASES = int(env("CITRIAGE_TEST_REPORT_MAX_CASES", "2000000"))
# GitHub Actions artifacts holding test reports (name globs; a repository's settings may
# name its own as "test_artifact_globs"), and the largest artifact downloaded (bytes).
TEST_ARTIFACT_GLOBS = env_list(
    "CITRIAGE_TEST_ARTIFACT_GLOBS", "*test-report*,*junit*,test-results*"
)
TEST_ARTIFACT_MAX_BYTES = int(env("CITRIAGE_TEST_ARTIFACT_MAX_BYTES", str(512 * 1024 * 1024)))
# A finished Actions job's artifacts are listed when its workflow run completes, or at most
# this long (s) after the job finished: one listing serves every job of the run finished by then.
TEST_ARTIFACT_WAIT_SECONDS = int(env("CITRIAGE_TEST_ARTIFACT_WAIT_SECONDS", "300"))

# Retention (days): processed webhook deliveries and counted rejections; finished task
# results, periodic-run rows and settled owed-work rows; stored logs (and their matches),
# CI configurations, expected jobs and workflow runs of jobs and commits this old, except
# the newest examples of each pattern and what open breakages refer to; test results and
# flaky-test history this old, except what flaky, broken or quarantined tests and open
# breakages refer to. The sweep runs daily (s).
RETAIN_DELIVERIES_DAYS = float(env("CITRIAGE_RETAIN_DELIVERIES_DAYS", "14"))
RETAIN_TASKS_DAYS = float(env("CITRIAGE_RETAIN_TASKS_DAYS", "7"))
RETAIN_LOGS_DAYS = float(env("CITRIAGE_RETAIN_LOGS_DAYS", "180"))
RETAIN_TEST_RESULTS_DAYS = float(env("CITRIAGE_RETAIN_TEST_RESULTS_DAYS", "180"))
RETAIN_PATTERN_EXAMPLES = int(env("CITRIAGE_RETAIN_PATTERN_EXAMPLES", "10"))
RETENTION_SWEEP_SECONDS = int(env("CITRIAGE_RETENTION_SWEEP_SECONDS", "86400"))

# Login: GitHub (django-allauth), with the OAuth client of the GitHub App (or an OAuth App).
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
SOCIALACCOUNT_ONLY = True  # people sign in with GitHub; local accounts are for staff (admin)
ACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_LOGIN_ON_GET = True
SOCIALACCOUNT_STORE_TOKENS = True  # needed to check organisation or team membership
SOCIALACCOUNT_PROVIDERS = {
    "github": {
        "APPS": [
            {
                "client_id": env("CITRIAGE_GITHUB_CLIENT_ID"),
                "secret": env("CITRIAGE_GITHUB_CLIENT_SECRET"),
            }
        ]
        if env("CITRIAGE_GITHUB_CLIENT_ID")
        else [],
        "SCOPE": ["read:org"],
    }
}
if env("CITRIAGE_GITHUB_URL"):  # GitHub Enterprise Server; its API is then at <url>/api/v3
    SOCIALACCOUNT_PROVIDERS["github"]["GITHUB_URL"] = env("CITRIAGE_GITHUB_URL")
# Who may change things (patterns, promotions, rescans, reruns, breakages): Django staff,
# and members of this GitHub organisation or team ("org" or "org/team-slug").
WRITE_ACCESS = env("CITRIAGE_WRITE_ACCESS")
# Reading is public unless this is set.
REQUIRE_LOGIN = env_bool("CITRIAGE_REQUIRE_LOGIN")
# Flaky evidence on /clusters/: the same signature failing on at least 2 pull requests by at
# least 2 authors within this many days (0: off).
CLUSTER_FLAKY_DAYS = int(env("CITRIAGE_CLUSTER_FLAKY_DAYS", "0"))
# Install citriage's default pattern library when the database is migrated (each pattern
# once: people's edits and deletions stay).
INSTALL_DEFAULT_LIBRARY = env_bool("CITRIAGE_DEFAULT_LIBRARY", True)
# CPU seconds a pattern may spend on one log; one that needs more is retired, saying why.
PATTERN_SECONDS = float(env("CITRIAGE_PATTERN_SECONDS", "2"))
# The workbench's backtest scans the newest stored logs for at most this long (s).
BACKTEST_SECONDS = float(env("CITRIAGE_BACKTEST_SECONDS", "20"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("CITRIAGE_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One line per task enqueued is noise in the web process; failures still show.
        "django_tasks": {"level": "WARNING"},
        "django_tasks_db": {"level": env("CITRIAGE_LOG_LEVEL", "INFO")},
        "httpx": {"level": "WARNING"},
        # "Running job ... executed successfully" every minute says nothing.
        "apscheduler": {"level": "WARNING"},
    },
}
