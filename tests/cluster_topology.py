"""A Redis Cluster of the test run's own: six redis-servers on loopback ports.

Three masters and three replicas, made by ``redis-cli --cluster create
... --cluster-replicas 1``, with a short ``cluster-node-timeout`` so that a
killed master's replica takes over within a few seconds. Every server runs
in a temporary directory of its own, never touches the machine's Redis on
6379, and is killed and deleted when the test session ends.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import redis

#: Milliseconds a master may be silent before its replica takes over.
NODE_TIMEOUT_MS = 1000


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_ports(count: int) -> list[int]:
    """``count`` loopback ports that are free, each with its cluster bus port
    (port + 10000) free too.

    Both below 32768, where Linux starts picking the local ports of outgoing
    connections: a port found free there can be taken before the server binds it.
    """
    found: list[int] = []
    candidates = list(range(20000, 22768))
    random.shuffle(candidates)
    for port in candidates:
        if port == 6379 or port + 10000 == 6379:
            continue
        if _port_free(port) and _port_free(port + 10000):
            found.append(port)
            if len(found) == count:
                return found
    raise RuntimeError("no free ports for a Redis Cluster")


def node_command(port: int, *args: str, timeout: float = 2) -> str:
    """Run one command on the node at ``port`` with redis-cli; its output ('' if down)."""
    try:
        done = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout if done.returncode == 0 else ""


@dataclass
class Node:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class LocalCluster:
    """Six redis-servers in cluster mode under ``directory``."""

    directory: str
    nodes: list[Node] = field(default_factory=list)

    @classmethod
    def start(cls, size: int = 6, attempts: int = 3) -> LocalCluster:
        """Start the servers and make them a cluster (again with other ports
        if a server could not start, its port taken meanwhile)."""
        for attempt in range(attempts):
            try:
                return cls._start(size)
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    @classmethod
    def _start(cls, size: int) -> LocalCluster:
        binary = shutil.which("redis-server")
        if binary is None or shutil.which("redis-cli") is None:
            raise RuntimeError("redis-server and redis-cli are needed (apt-get install redis)")
        cluster = cls(tempfile.mkdtemp(prefix="smsverify-cluster-"))
        try:
            for port in free_cluster_ports(size):
                cluster.nodes.append(Node(port, cluster._spawn(port)))
            for node in cluster.nodes:
                cluster._wait_for(lambda n=node: cluster._answers(n))
            created = subprocess.run(
                [
                    "redis-cli", "--cluster", "create",
                    *(f"127.0.0.1:{n.port}" for n in cluster.nodes),
                    "--cluster-replicas", "1", "--cluster-yes",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )  # fmt: skip
            if created.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout[-2000:]}")
            cluster.wait_healthy()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-config-file", os.path.join(self.directory, f"nodes-{port}.conf"),
                "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                "--save", "",
                "--appendonly", "no",
                "--dir", self.directory,
                "--logfile", os.path.join(self.directory, f"redis-{port}.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def _answers(self, node: Node) -> bool:
        if not node.alive:
            log = os.path.join(self.directory, f"redis-{node.port}.log")
            with contextlib.suppress(OSError), open(log) as lines:
                raise RuntimeError(f"redis-server on {node.port} exited: {lines.read()[-500:]}")
            raise RuntimeError(f"redis-server on {node.port} exited")
        return node_command(node.port, "PING").strip() == "PONG"

    @staticmethod
    def _wait_for(condition, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        raise RuntimeError("the local Redis Cluster did not get there in time")

    def _healthy(self) -> bool:
        live = [n for n in self.nodes if n.alive]
        if any("cluster_state:ok" not in node_command(n.port, "CLUSTER", "INFO") for n in live):
            return False
        # Three masters, each with a replica that is in sync: what a failover needs.
        masters = [n for n in live if node_command(n.port, "ROLE").startswith("master")]
        synced = [
            n
            for n in masters
            if re.search(r"slave0:.*state=online", node_command(n.port, "INFO", "replication"))
        ]
        return len(masters) == 3 and len(synced) == 3

    def wait_healthy(self, timeout: float = 30) -> None:
        """Wait until every live node says ``cluster_state:ok`` and each of the
        three masters has a replica in sync."""
        self._wait_for(self._healthy, timeout)

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def master_for(self, key: str) -> Node:
        """The live node that is master of ``key``'s slot."""
        for node in self.nodes:
            if not node.alive:
                continue
            slot = int(node_command(node.port, "CLUSTER", "KEYSLOT", key).strip() or -1)
            for line in node_command(node.port, "CLUSTER", "NODES").splitlines():
                parts = line.split()
                if "master" not in parts[2] or "fail" in parts[2]:
                    continue
                for span in parts[8:]:
                    low, _, high = span.partition("-")
                    if low.isdigit() and int(low) <= slot <= int(high or low):
                        port = int(parts[1].split("@")[0].rpartition(":")[2])
                        return next(n for n in self.nodes if n.port == port)
        raise RuntimeError(f"no live master owns the slot of {key!r}")

    def replicas(self) -> list[Node]:
        """The live nodes that are replicas."""
        return [
            n for n in self.nodes if n.alive and node_command(n.port, "ROLE").startswith("slave")
        ]

    def flush(self) -> None:
        """Delete every key, on every master (what ``FLUSHDB`` through a
        client would do, without relying on its view of who is master)."""
        for node in self.nodes:
            if not node.alive:
                continue
            client = redis.Redis(port=node.port, socket_timeout=2)
            try:
                if client.execute_command("ROLE")[0] == b"master":
                    client.flushall()
            finally:
                client.close()

    def kill(self, node: Node) -> None:
        """``kill -9`` the node's process, by its PID."""
        os.kill(node.process.pid, signal.SIGKILL)
        node.process.wait()

    def restart(self, node: Node) -> None:
        """Start a killed node again on its port (it rejoins the cluster)."""
        node.process = self._spawn(node.port)
        self._wait_for(lambda: self._answers(node))

    def stop(self) -> None:
        """Kill every server and delete the directory."""
        for node in self.nodes:
            if node.alive:
                node.process.kill()
            with contextlib.suppress(Exception):
                node.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)
