"""Durability across failover (issue: scale-out). Redis replicates
asynchronously: a replica promoted while it lags has lost every code and
cooldown written in the lag. In a partition test all 20 numbers then got a
second SMS at once. ``REPLICA_WAIT`` makes each write wait for a replica's
acknowledgement and answer 503 without one, so nothing a user was told about
is lost. Runs on a master and a replica of its own, on free loopback ports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import time
from pathlib import Path

import pytest
import redis
from django.core.cache import caches

import django_smsverify
from django_smsverify import verification
from django_smsverify.exceptions import RateLimited, ServiceUnavailable
from tests.helpers import last_code
from tests.sentinel_topology import HOST, SentinelGroup, free_port

pytestmark = [pytest.mark.heavy, pytest.mark.django_db]

NUMBERS = [f"+86138{i:03d}{i:05d}" for i in range(20)]


class Pair(SentinelGroup):
    """A master and one replica; no sentinels (the test promotes by hand)."""

    def start(self) -> None:  # type: ignore[override]
        self.master, self.replica = free_port(), free_port()
        self.data_ports = [self.master, self.replica]
        self.start_data_server(self.master)
        self.start_data_server(self.replica, replica_of=self.master)
        self.wait_synced(self.replica)

    def wait_synced(self, port: int) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            info = redis.Redis(host=HOST, port=port).info("replication")
            if info.get("master_link_status") == "up":
                # The link is up; one acknowledged write proves the replica
                # is past its first sync and acknowledging.
                master = redis.Redis(host=HOST, port=int(info["master_port"]))
                pipe = master.pipeline(transaction=False)
                pipe.set("synced", 1)
                pipe.execute_command("WAIT", 1, 5000)
                pipe.delete("synced")
                if pipe.execute()[1] >= 1:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"the replica on {port} did not sync")


@pytest.fixture
def pair():
    with tempfile.TemporaryDirectory() as tmp:
        group = Pair(Path(tmp))
        group.start()
        try:
            yield group
        finally:
            for port in group.data_ports:
                process = group.processes.get(port)
                if process is not None and process.poll() is None:
                    os.kill(process.pid, signal.SIGCONT)
            group.stop()


def use(settings, port: int, **smsverify) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://{HOST}:{port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 1},
        }
    }
    settings.SMSVERIFY = {"PUMPING_GUARD": False, **smsverify}
    caches["default"].close()


def partition_and_fail_over(pair: Pair, settings, **smsverify) -> tuple[int, int]:
    """Cut the replica off from its master, send to 20 numbers, kill the
    master, promote the replica, then ask again for the same numbers inside
    their cooldown. Returns (SMS before the failover, SMS after it)."""
    use(settings, pair.master, **smsverify)
    replica = redis.Redis(host=HOST, port=pair.replica)
    # A partition: the replica stops following the master (and will be the one
    # promoted, as Sentinel would promote it once the master is gone).
    replica.replicaof("NO", "ONE")
    for phone in NUMBERS:
        with contextlib.suppress(ServiceUnavailable):
            verification.send_code(phone, "register")
    before = len(django_smsverify.outbox)
    os.kill(pair.processes[pair.master].pid, signal.SIGKILL)
    pair.processes[pair.master].wait()
    # The old master comes back as the new master's replica (as Sentinel has it).
    pair.start_data_server(pair.master, replica_of=pair.replica)
    pair.wait_synced(pair.master)
    use(settings, pair.replica, **smsverify)
    for phone in NUMBERS:
        with contextlib.suppress(RateLimited):
            verification.send_code(phone, "register")
    return before, len(django_smsverify.outbox) - before


def test_without_waiting_a_lagging_replica_loses_every_cooldown(pair, settings):
    before, after = partition_and_fail_over(pair, settings)
    # All 20 users were sent a code, and after the failover all 20 get another
    # inside their cooldown: the promoted replica never saw the first ones.
    assert (before, after) == (20, 20)


def test_with_replica_wait_nothing_a_user_was_told_about_is_lost(pair, settings):
    wait = {"REPLICA_WAIT": {"REPLICAS": 1, "TIMEOUT_MS": 100}}
    before, after = partition_and_fail_over(pair, settings, **wait)
    # With the replica cut off, no send was acknowledged: each answered 503 and
    # sent nothing. After the failover each number gets its first code.
    assert (before, after) == (0, 20)


def test_with_replica_wait_a_healthy_replica_has_each_write(pair, settings):
    use(settings, pair.master, REPLICA_WAIT={"REPLICAS": 1, "TIMEOUT_MS": 1000})
    replica = redis.Redis(host=HOST, port=pair.replica)
    verification.send_code(NUMBERS[0], "register")
    # Read at once from the replica: the code, cooldown and quotas are there.
    assert replica.dbsize() >= 4
    code = last_code()
    assert verification.check_code(NUMBERS[0], code, "register") == NUMBERS[0]
    with pytest.raises(RateLimited):
        verification.send_code(NUMBERS[0], "register")


def test_with_replica_wait_checks_answer_503_while_no_replica_acknowledges(pair, settings):
    use(settings, pair.master, REPLICA_WAIT={"REPLICAS": 1, "TIMEOUT_MS": 100})
    verification.send_code(NUMBERS[0], "register")
    code = last_code()
    os.kill(pair.processes[pair.replica].pid, signal.SIGSTOP)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        verification.check_code(NUMBERS[0], code, "register")
    assert time.monotonic() - started < 1
    os.kill(pair.processes[pair.replica].pid, signal.SIGCONT)
