#!/usr/bin/env python3
"""Run a command next to a throwaway PostgreSQL server.

    scripts/with_postgres.py COMMAND [ARGS...]

Starts a temporary cluster from the installed server binaries (installing
Debian's `postgresql` package first when they are missing and we are root),
exports CITRIAGE_DATABASE_URL for the command, and removes the cluster when
the command ends. As root the server runs as the `postgres` user, because
initdb and postgres refuse to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile


def server_binaries() -> str | None:
    found = shutil.which("pg_ctl")
    if found:
        return os.path.dirname(found)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(candidates[-1]) if candidates else None


def install_server() -> None:
    if os.geteuid() != 0:
        sys.exit("PostgreSQL server binaries not found; install the postgresql package")
    print("installing PostgreSQL (apt-get install postgresql) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
        check=True,
        env=env,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def ensure_server_user() -> None:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)


class Cluster:
    """A throwaway PostgreSQL server in a temporary directory, on a free port."""

    def __init__(self) -> None:
        bindir = server_binaries()
        if bindir is None:
            install_server()
            bindir = server_binaries()
            if bindir is None:
                sys.exit("PostgreSQL was installed but pg_ctl is still not found")
        self.bindir = bindir
        self.workdir = tempfile.mkdtemp(prefix="citriage-pg-")
        if os.geteuid() == 0:
            ensure_server_user()
            shutil.chown(self.workdir, user="postgres")
        self.data = os.path.join(self.workdir, "data")
        self.port = free_port()
        subprocess.run(
            as_server_user(
                [f"{bindir}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.start()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            as_server_user([f"{self.bindir}/pg_ctl", "-D", self.data, *args]),
            check=check,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._pg_ctl("-o", options, "-l", f"{self.workdir}/server.log", "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "stop", check=False)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)


def main() -> int:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cluster = Cluster()
    try:
        env = {**os.environ, "CITRIAGE_DATABASE_URL": cluster.url}
        return subprocess.run(sys.argv[1:], env=env).returncode
    finally:
        cluster.remove()


if __name__ == "__main__":
    sys.exit(main())
