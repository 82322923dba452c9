"""A PostgreSQL server of the test run's own, in a temporary directory, on a
free loopback port.

The PostgreSQL tests count server-wide figures (WAL flushes in
``pg_stat_wal``): on a server other programs write to, those counts include
their work and the test flakes. So ``SMSVERIFY_TEST_DB=postgres`` without
``PGHOST`` runs ``initdb`` in a temporary directory, starts the server there
and stops it (and deletes the directory) when the test process exits. The
connection goes into ``PGHOST``/``PGPORT``, which subprocesses inherit.

``PGHOST`` given by the caller wins: that is how a developer points the
suite at a server of their choosing.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

_data: Path | None = None


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    # Debian keeps the server programs out of PATH, one folder per major version.
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise RuntimeError(
            f"{name} not found: install PostgreSQL (apt-get install postgresql) or set PGHOST"
        )
    return candidates[-1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(args: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; CI runs as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


def _stop() -> None:
    if _data is None:
        return
    subprocess.run(
        _as_server_user([_binary("pg_ctl"), "-D", str(_data / "db"), "-m", "immediate", "stop"]),
        capture_output=True,
        check=False,
        timeout=60,
    )
    shutil.rmtree(_data, ignore_errors=True)


def ensure() -> None:
    """Start the run's own PostgreSQL unless ``PGHOST`` is already set."""
    global _data
    if os.environ.get("PGHOST") or _data is not None:
        return
    root = Path(tempfile.mkdtemp(prefix="smsverify-pg-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(root, entry.pw_uid, entry.pw_gid)
    db = root / "db"
    subprocess.run(
        _as_server_user(
            [_binary("initdb"), "-D", str(db), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
        ),
        capture_output=True,
        check=True,
        timeout=120,
    )
    _data = root
    atexit.register(_stop)
    port = _free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=100"
    start = [_binary("pg_ctl"), "-D", str(db), "-l", str(root / "log"), "-o", options, "-w"]
    subprocess.run(
        _as_server_user([*start, "start"]),
        capture_output=True,
        check=True,
        timeout=120,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    os.environ.update(PGHOST="127.0.0.1", PGPORT=str(port), PGUSER="postgres", PGPASSWORD="")
