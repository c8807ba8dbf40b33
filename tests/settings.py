"""Settings of the test run: citriage's own, with the default pattern library left out
of migrated databases (tests build the library they need). Said in the environment, so
that citriage processes the tests start (workers, the CLI) leave it out too, and those
processes read citriage's own settings module.

A run without CITRIAGE_DATA_DIR gets a data directory of its own (its SQLite test
databases live there): two test runs on one machine never share a database file.
"""

import os
import tempfile

os.environ.setdefault("CITRIAGE_DEFAULT_LIBRARY", "false")
# Passing runs are not fetched for baselines unless a test asks (its fake provider serves them).
os.environ.setdefault("CITRIAGE_PASSING_LOG_DAYS", "0")
# Verdicts are recomputed as soon as asked (no settling time for bursts).
os.environ.setdefault("CITRIAGE_VERDICT_REFRESH_SECONDS", "0")
os.environ.setdefault("CITRIAGE_FLAKY_CHECK_DELAY_SECONDS", "0")
# An Actions job's run is listed for artifacts as soon as the job finished (a test that
# wants the wait for the run's other jobs sets it).
os.environ.setdefault("CITRIAGE_TEST_ARTIFACT_WAIT_SECONDS", "0")
# The real CircleCI is never called: a test that did not point it at a fake server meets a
# closed local port (refused at once, retried after short waits) instead of the internet,
# where a worker retrying owed test-result fetches with real backoff hung a browser test.
os.environ.setdefault("CITRIAGE_CIRCLECI_URL", "http://127.0.0.1:9/api")
os.environ.setdefault("CITRIAGE_HTTP_BACKOFF", "0.01")
if "CITRIAGE_DATA_DIR" not in os.environ:
    os.environ["CITRIAGE_DATA_DIR"] = tempfile.mkdtemp(prefix="citriage-test-")

from citriage.settings import *  # noqa: F403

os.environ["DJANGO_SETTINGS_MODULE"] = "citriage.settings"
