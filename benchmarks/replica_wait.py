"""What ``SMSVERIFY["REPLICA_WAIT"]`` costs: send+check latency with and without it.

    python benchmarks/replica_wait.py [--pairs 1000] [--rounds 3]

Starts a Redis master and one replica of its own on free loopback ports, then
runs ``send_code`` + ``check_code`` pairs against the master, alternating
rounds without and with ``REPLICA_WAIT = {"REPLICAS": 1, "TIMEOUT_MS": 100}``,
and prints the median latency per pair and per step, and the ratio. Each
writing step then waits for the replica's acknowledgement in the same round
trip (``WAIT``). Records and the pumping guard are off: this measures the
store.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)


def start(port: int, directory: Path, replica_of: int | None = None) -> subprocess.Popen[bytes]:
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", str(directory), "--repl-diskless-sync-delay", "0"]
    if replica_of:
        args += ["--replicaof", "127.0.0.1", str(replica_of)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import redis

    from tests.sentinel_topology import free_port

    with tempfile.TemporaryDirectory() as tmp:
        master_port, replica_port = free_port(), free_port()
        (Path(tmp) / "m").mkdir()
        (Path(tmp) / "r").mkdir()
        processes = [start(master_port, Path(tmp) / "m")]
        time.sleep(0.3)
        processes.append(start(replica_port, Path(tmp) / "r", replica_of=master_port))
        try:
            deadline = time.monotonic() + 10
            master = redis.Redis(port=master_port)
            while time.monotonic() < deadline:
                try:
                    if master.execute_command("WAIT", 1, 200) >= 1:
                        break
                except redis.RedisError:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError("the replica did not sync")
            return run(master_port, args)
        finally:
            for process in processes:
                process.terminate()
                process.wait()


def run(port: int, args: argparse.Namespace) -> int:
    import django
    from django.conf import settings
    from django.test import override_settings

    settings.configure(
        SECRET_KEY="benchmark-not-a-secret",  # noqa: S106
        INSTALLED_APPS=["django_smsverify"],
        CACHES={
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{port}/0",
            }
        },
        SMS_BACKEND="django_smsverify.backends.locmem.SmsBackend",
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()
    import django_smsverify
    from django_smsverify import verification
    from django_smsverify.delivery import NullRecorder, set_recorder

    set_recorder(NullRecorder())
    base = {
        "RESEND_COOLDOWN": 0,
        "SEND_LIMITS": {"PHONE_PER_HOUR": None, "PHONE_PER_DAY": None, "IP_PER_HOUR": None},
        "PUMPING_GUARD": False,
        "STATS": False,
    }
    modes = {"async": base, "wait 1": {**base, "REPLICA_WAIT": {"REPLICAS": 1, "TIMEOUT_MS": 100}}}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in modes}
    counter = 0
    for _ in range(args.rounds):
        for name, options in modes.items():
            with override_settings(SMSVERIFY=options):
                sends, checks = [], []
                for _ in range(args.pairs):
                    counter += 1
                    phone = f"+86139{counter % 1000:03d}{counter % 100_000:05d}"
                    started = time.perf_counter()
                    verification.send_code(phone, "register")
                    sent = time.perf_counter()
                    code = django_smsverify.outbox.pop().params[0]
                    verification.check_code(phone, code, "register")
                    checks.append(time.perf_counter() - sent)
                    sends.append(sent - started)
                results[name].append((statistics.median(sends), statistics.median(checks)))
    print(
        f"REPLICA_WAIT cost: {args.pairs} send+check pairs x {args.rounds} alternating rounds, "
        f"master and one replica on loopback, Python {sys.version.split()[0]}"
    )
    medians = {}
    for name, rounds in results.items():
        send = statistics.median(r[0] for r in rounds) * 1e6
        check = statistics.median(r[1] for r in rounds) * 1e6
        medians[name] = send + check
        print(
            f"  {name:7s} send {send:7.0f} us  check {check:7.0f} us  pair {send + check:7.0f} us"
        )
    print(f"  ratio wait/async per pair: {medians['wait 1'] / medians['async']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
