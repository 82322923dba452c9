"""A redis-server of the test run's own, on a free loopback port.

The suite must not share state with other programs on the machine (another
project's data in some database of the server on 6379, a FLUSHALL or a
memory limit set by someone else), so a test process that is not given
``REDIS_URL`` starts its own server before the settings are read and stops it
when it exits. The URLs go into the environment, so the subprocesses the
tests start (a Celery worker, the example project) use the same server.

``REDIS_URL`` (and ``CELERY_BROKER_URL``) given by the caller win: that is
how a developer points the suite at a server of their choosing.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time

_server: subprocess.Popen[bytes] | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _stop() -> None:
    if _server is not None and _server.poll() is None:
        _server.terminate()
        try:
            _server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _server.kill()


def ensure() -> None:
    """Start the run's own redis-server unless ``REDIS_URL`` is already set.

    Without a ``redis-server`` binary nothing starts and the Redis cases fail
    (``SMSVERIFY_REQUIRE_REDIS=1``) or are skipped, as tests/conftest.py says.
    """
    global _server
    if os.environ.get("REDIS_URL") or _server is not None:
        return
    binary = shutil.which("redis-server")
    if binary is None:
        return
    for _ in range(5):  # a free port can be taken between bind and start
        port = _free_port()
        server = subprocess.Popen(
            [
                binary,
                "--bind", "127.0.0.1",
                "--port", str(port),
                "--save", "",
                "--appendonly", "no",
                "--dir", tempfile.gettempdir(),
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and server.poll() is None:
            if _answers(port):
                _server = server
                atexit.register(_stop)
                os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/15"
                os.environ.setdefault("CELERY_BROKER_URL", f"redis://127.0.0.1:{port}/11")
                return
            time.sleep(0.05)
        server.kill()
        server.wait()
    raise RuntimeError("could not start a redis-server of the test run's own")
