"""The first run from the command line: a relative data directory, `manage` on an empty one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_relative_data_dir_and_manage_migrating_first(tmp_path: Path) -> None:
    """`CITRIAGE_DATA_DIR=./data citriage manage createsuperuser` on an empty directory."""
    env = {
        **os.environ,
        "CITRIAGE_DATA_DIR": "./data",
        "DJANGO_SUPERUSER_PASSWORD": "a-long-password-1",
        "DJANGO_SETTINGS_MODULE": "citriage.settings",
    }
    create = ["manage", "createsuperuser", "--noinput", "--username", "admin"]
    done = subprocess.run(
        [sys.executable, "-m", "citriage.cli", *create, "--email", "admin@example.org"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Superuser created" in done.stdout
    assert (tmp_path / "data" / "citriage.sqlite3").is_file()
    show = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps([str(settings.DATA_DIR), settings.LOG_STORE_URL]))"
    )
    listed = subprocess.run(
        [sys.executable, "-c", show],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    data_dir, store = json.loads(listed.stdout)
    assert data_dir == str((tmp_path / "data").resolve())
    assert store == (tmp_path / "data" / "logs").resolve().as_uri()
