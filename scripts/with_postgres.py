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


def main() -> int:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    bindir = server_binaries()
    if bindir is None:
        install_server()
        bindir = server_binaries()
        if bindir is None:
            sys.exit("PostgreSQL was installed but pg_ctl is still not found")
    workdir = tempfile.mkdtemp(prefix="citriage-pg-")
    if os.geteuid() == 0:
        ensure_server_user()
        shutil.chown(workdir, user="postgres")
    data = os.path.join(workdir, "data")
    port = free_port()
    subprocess.run(
        as_server_user(
            [f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    options = (
        f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    )
    subprocess.run(
        as_server_user(
            [
                f"{bindir}/pg_ctl",
                "-D",
                data,
                "-o",
                options,
                "-l",
                f"{workdir}/server.log",
                "-w",
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        env = {
            **os.environ,
            "CITRIAGE_DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/postgres",
        }
        return subprocess.run(sys.argv[1:], env=env).returncode
    finally:
        subprocess.run(
            as_server_user([f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"]),
            stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
