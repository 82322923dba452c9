"""A Redis Sentinel group of the test run's own: a master, one replica and
three sentinels, all on free loopback ports, in a temporary directory.

Nothing here touches the machine's shared Redis on 6379: every server is
started and stopped by :class:`SentinelGroup`. Sentinels declare the master
down after :data:`DOWN_AFTER_MS` and give a failover :data:`FAILOVER_TIMEOUT_MS`,
low values so that a failover test takes seconds, not minutes.

Two helpers for running the app on such a topology: :func:`adopt` runs
tests written for the suite's ``store_cache`` fixture on another store (the
module that adopts them defines a ``store_cache`` of its own), and
:func:`documented_settings` runs a settings block of docs/deployment.rst as
written, but for its made-up addresses.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import redis

SERVICE = "mymaster"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _client(port: int) -> redis.Redis:
    return redis.Redis(host=HOST, port=port, socket_timeout=0.5, socket_connect_timeout=0.5)


def _answers(port: int) -> bool:
    try:
        with _client(port) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def _info(port: int, section: str) -> dict[str, Any]:
    try:
        with _client(port) as client:
            return dict(client.info(section))
    except redis.RedisError:
        return {}


class SentinelGroup:
    """Master, replica and three sentinels, started by :meth:`start`."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.directory = directory
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.data_ports: list[int] = []
        self.sentinel_ports: list[int] = []

    # Starting and stopping ---------------------------------------------------

    def _spawn(self, port: int, args: list[str]) -> None:
        log = open(self.directory / f"{port}.log", "ab")  # noqa: SIM115 - the process owns it
        self.processes[port] = subprocess.Popen(
            [self.binary, *args], stdout=log, stderr=subprocess.STDOUT, cwd=self.directory
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.processes[port].poll() is not None:
                raise RuntimeError(f"redis-server on port {port} exited; see {port}.log")
            if _answers(port):
                return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {port} did not answer")

    def start_data_server(self, port: int, replica_of: int | None = None) -> None:
        """Start (or start again) a data server on ``port``."""
        work = self.directory / str(port)
        work.mkdir(exist_ok=True)
        args = ["--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
        # A replica's full sync would wait 5 s for more replicas to share it.
        args += ["--dir", str(work), "--loglevel", "warning", "--repl-diskless-sync-delay", "0"]
        if replica_of is not None:
            args += ["--replicaof", HOST, str(replica_of)]
        self._spawn(port, args)

    def start(self) -> None:
        master, replica = free_port(), free_port()
        self.data_ports = [master, replica]
        self.start_data_server(master)
        self.start_data_server(replica, replica_of=master)
        for _ in range(3):
            port = free_port()
            conf = self.directory / f"sentinel-{port}.conf"
            # Sentinel rewrites its file (known replicas, the current epoch).
            conf.write_text(
                f"port {port}\nbind {HOST}\ndir {self.directory}\n"
                f"sentinel monitor {SERVICE} {HOST} {master} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            self.sentinel_ports.append(port)
            self._spawn(port, [str(conf), "--sentinel", "--loglevel", "warning"])
        self.wait_healthy()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGCONT)
                process.kill()
            process.wait()
        self.processes.clear()

    # Reading the group -------------------------------------------------------

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return [(HOST, port) for port in self.sentinel_ports]

    def master_port(self) -> int:
        """The master's port, as the first sentinel that answers says."""
        for port in self.sentinel_ports:
            try:
                with _client(port) as client:
                    _host, master = client.sentinel_get_master_addr_by_name(SERVICE)
                    return int(master)
            except (redis.RedisError, TypeError):
                continue
        raise RuntimeError("no sentinel knows the master")

    def dbsize(self, port: int) -> int:
        """Keys in database 0 of the data server on ``port``."""
        with _client(port) as client:
            return int(client.dbsize())

    def healthy(self) -> bool:
        """Every sentinel names the same live master, which has one replica
        online, and knows the other two sentinels."""
        masters = set()
        for port in self.sentinel_ports:
            master = _info(port, "sentinel").get("master0") or {}
            if (master.get("status"), master.get("slaves"), master.get("sentinels")) != (
                "ok",
                1,
                3,
            ):
                return False
            masters.add(master.get("address"))
        if len(masters) != 1:
            return False
        port = int(str(masters.pop()).rsplit(":", 1)[1])
        replication = _info(port, "replication")
        replica = replication.get("slave0") or {}
        return (
            replication.get("role") == "master"
            and replication.get("connected_slaves") == 1
            and replica.get("state") == "online"
        )

    def wait_healthy(self, timeout: float = 30) -> float:
        """Wait until :meth:`healthy`; return the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.healthy():
                return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"the Sentinel group did not become healthy in {timeout} s")

    # Failures ---------------------------------------------------------------

    def pid(self, port: int) -> int:
        return self.processes[port].pid

    def kill_master(self) -> int:
        """``kill -9`` the master by its PID; return the port it had."""
        port = self.master_port()
        os.kill(self.pid(port), signal.SIGKILL)
        self.processes[port].wait()
        return port

    def bring_back(self, port: int) -> None:
        """Start a killed server again, as a replica of the current master,
        as an operator restarting it would; then wait until the group is whole."""
        self.start_data_server(port, replica_of=self.master_port())
        self.wait_healthy()


def sentinel_group() -> Iterable[SentinelGroup]:
    """Body of a fixture: a started group, stopped and removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="smsverify-sentinel-"))
    group = SentinelGroup(directory)
    try:
        group.start()
        yield group
    finally:
        group.stop()
        shutil.rmtree(directory, ignore_errors=True)


def adopt(
    namespace: dict[str, Any],
    module: ModuleType,
    tests: Iterable[str] | None = None,
    *,
    fixtures: Iterable[str] = (),
    marks: Iterable[pytest.MarkDecorator] = (),
) -> None:
    """Collect ``module``'s ``tests`` (default: all of them) in ``namespace``
    too, with the module's own marks (``pytestmark``) and ``marks``, and its
    ``fixtures``, so that they run on the adopting module's ``store_cache``.

    Each test is wrapped, so the marks added here stay off the original.
    """
    own = getattr(module, "pytestmark", [])
    all_marks = [*(own if isinstance(own, list) else [own]), *marks]
    for name in fixtures:
        namespace[name] = getattr(module, name)
    if tests is None:
        tests = [name for name in vars(module) if name.startswith("test_")]
    for name in tests:
        test: Callable[..., Any] = getattr(module, name)

        @functools.wraps(test)
        def wrapper(*args: Any, _test: Callable[..., Any] = test, **kwargs: Any) -> Any:
            return _test(*args, **kwargs)

        for mark in all_marks:
            wrapper = mark(wrapper)
        namespace[name] = wrapper


# The documented settings ------------------------------------------------------

DEPLOYMENT = Path(__file__).resolve().parent.parent / "docs" / "deployment.rst"


def documented_block(title: str) -> str:
    """The ``.. code-block:: python`` of docs/deployment.rst whose first line
    is ``# settings.py: <title>``, dedented."""
    lines = DEPLOYMENT.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.strip() != ".. code-block:: python":
            continue
        body = list(
            itertools.takewhile(lambda text: not text or text.startswith(" "), lines[i + 1 :])
        )
        text = textwrap.dedent("\n".join(body)).strip("\n")
        if text.splitlines()[0] == f"# settings.py: {title}":
            return text + "\n"
    raise AssertionError(f"docs/deployment.rst has no block '# settings.py: {title}'")


def documented_settings(title: str, addresses: dict[str, str]) -> dict[str, Any]:
    """Run the documented block ``title`` as a settings module would, with each
    made-up address in ``addresses`` replaced by a real one; its names."""
    text = documented_block(title)
    for made_up, real in addresses.items():
        assert made_up in text, f"{title}: {made_up!r} is no longer in the block"
        text = text.replace(made_up, real)
    namespace: dict[str, Any] = {}
    exec(compile(text, f"docs/deployment.rst ({title})", "exec"), namespace)  # noqa: S102
    return namespace


def sentinel_addresses(group: SentinelGroup) -> dict[str, str]:
    """The documented sentinels' addresses, mapped to ``group``'s."""
    return {
        f'("sentinel-{i}.internal", 26379)': repr(address)
        for i, address in enumerate(group.sentinels, start=1)
    }
