"""HTTP load benchmark: django-smsverify under gunicorn, against a ceiling and a peer.

    python benchmarks/http.py [--seconds 5] [--rounds 3] [--concurrency 4] [--threads 1]
                              [--max-requests 50000] [--only NAME ...]

Serves the example project (``benchmarks/sites/bench_site`` settings: Redis cache,
PostgreSQL) under gunicorn with 2 workers on 127.0.0.1, and drives it from
this process with a bounded number of threads for a bounded time and number of
requests per scenario:

* ``ceiling``: a trivial Django JSON view on the same server;
* ``io floor``: a view that does only the I/O a send needs and nothing else
  (one indexed SELECT, two Redis commands), the bound for any app that checks
  registration, keeps limits in Redis and hands the SMS to a backend;
* ``ours send``: ``POST send_code``;
* ``ours verify``: ``send_code``, read the code, ``check_code`` in a site view;
* ``ours signup``: ``send_code``, read the code, ``POST`` the register page
  (user, number and session created; no peer does this much);
* ``peer send`` / ``peer verify``: django-phone-verify (installed from PyPI
  into the benchmark's own virtualenv) doing the equivalent ``register`` (send)
  and ``register`` + ``verify``;
* ``ours send`` / ``ours verify`` again, on a second server whose only
  difference is ``SMSVERIFY["DELIVERY_RECORDS"] = False``.

Both apps' SMS backends hand the code over through Redis (one SET). Prints
requests/s, p50 and p99 per scenario, and the ratios against the targets (ours
send >= 0.6 of the ceiling; ours >= 2x the peer). Needs Redis and PostgreSQL on
their standard ports; creates the database ``smsverify_bench`` and uses Redis
database 8, both emptied first.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named http.py; keep its folder off sys.path so that it does not
# hide the standard library's http package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import http.client  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402
import venv  # noqa: E402
from collections.abc import Callable  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("BENCH_HTTP_VENV", "/tmp/django-smsverify-bench-http"))  # noqa: S108
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
PEER = "django-phone-verify==3.3.0"
NO_RECORDS = " (DELIVERY_RECORDS off)"


def sh(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, **kwargs)


def prepare_venv() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating the benchmark virtualenv in {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    sh(
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        f"{ROOT}[redis]",
        "gunicorn",
        "psycopg[binary]",
        PEER,
        "djangorestframework",
    )
    # Always this checkout's code, not a copy built on an earlier run.
    sh(str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(ROOT))
    return python


def env(**extra: str) -> dict[str, str]:
    paths = [str(ROOT / "benchmarks" / "sites"), str(ROOT / "example_project")]
    return {
        **os.environ,
        **extra,
        "PYTHONPATH": os.pathsep.join(paths),
        "DJANGO_SETTINGS_MODULE": "bench_site.settings",
        "BENCH_REDIS_URL": REDIS_URL,
    }


def reset_state(python: Path) -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    sh(
        "psql",
        "-q",
        "-h",
        "127.0.0.1",
        "-U",
        os.environ.get("PGUSER", "postgres"),
        "-c",
        "DROP DATABASE IF EXISTS smsverify_bench",
        "-c",
        "CREATE DATABASE smsverify_bench",
        stdout=subprocess.DEVNULL,
    )
    sh(str(python), "-m", "django", "migrate", "--noinput", "-v", "0", env=env(), cwd=VENV)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, python: Path, threads: int = 1, **extra_env: str) -> None:
        self.port = free_port()
        gunicorn = str(python.parent / "gunicorn")
        self.process = subprocess.Popen(
            [
                gunicorn,
                "--workers",
                "2",
                "--threads",
                str(threads),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                "bench_site.wsgi",
            ],
            env=env(**extra_env),
            cwd=VENV,
        )
        for _ in range(100):
            try:
                if request(self.port, "GET", "/bench/ceiling/")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("gunicorn did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes, http.client.HTTPMessage]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), response.headers
    finally:
        conn.close()


class Client:
    """What one simulated user needs: a CSRF cookie, and codes from 'their phone'."""

    def __init__(self, port: int) -> None:
        import redis

        self.port = port
        self.redis = redis.Redis.from_url(REDIS_URL)
        _, _, headers = request(port, "GET", "/accounts/phone/register/")
        cookie = headers.get_all("Set-Cookie") or []
        token = next(c.split(";")[0].split("=", 1)[1] for c in cookie if c.startswith("csrftoken="))
        self.csrf = token
        self.cookie = f"csrftoken={token}"

    def code(self, phone: str) -> str:
        value = self.redis.get(f"bench:code:{phone}")
        if value is None:
            raise RuntimeError(f"no code for {phone}")
        return value.decode()

    def post_json(self, path: str, data: dict, csrf: bool = True) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        if csrf:
            headers.update({"X-CSRFToken": self.csrf, "Cookie": self.cookie})
        status, body, _ = request(self.port, "POST", path, json.dumps(data).encode(), headers)
        return status, body

    def post_form(self, path: str, data: dict) -> int:
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": self.csrf}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": self.cookie}
        return request(self.port, "POST", path, body, headers)[0]


def phones(prefix: str, start: int = 0) -> Callable[[], str]:
    counter = itertools.count(start)
    lock = threading.Lock()

    def next_phone() -> str:
        with lock:
            return f"+86{prefix}{next(counter):08d}"

    return next_phone


# Scenarios: each returns None on success or raises.


def ceiling(client: Client, phone: Callable[[], str]) -> None:
    status = request(client.port, "GET", "/bench/ceiling/")[0]
    assert status == 200, status


def floor(client: Client, phone: Callable[[], str]) -> None:
    status, body = client.post_json("/bench/floor/", {"phone": phone(), "purpose": "register"})
    assert status == 200, (status, body[:200])


def ours_send(client: Client, phone: Callable[[], str]) -> None:
    status, body = client.post_json(
        "/accounts/phone/send-code/", {"phone": phone(), "purpose": "register"}
    )
    assert status == 200, (status, body[:200])


def ours_flow(client: Client, phone: Callable[[], str]) -> None:
    number = phone()
    status, body = client.post_json(
        "/accounts/phone/send-code/", {"phone": number, "purpose": "register"}
    )
    assert status == 200, (status, body[:200])
    status = client.post_form(
        "/accounts/phone/register/",
        {
            "phone": number,
            "code": client.code(number),
            "password1": "bench-pass-123",
            "password2": "bench-pass-123",
        },
    )
    assert status == 302, status


def ours_check(client: Client, phone: Callable[[], str]) -> None:
    number = phone()
    status, body = client.post_json(
        "/accounts/phone/send-code/", {"phone": number, "purpose": "register"}
    )
    assert status == 200, (status, body[:200])
    status, body = client.post_json("/bench/check/", {"phone": number, "code": client.code(number)})
    assert status == 200, (status, body[:200])


def peer_send(client: Client, phone: Callable[[], str]) -> None:
    status, body = client.post_json("/api/phone/register", {"phone_number": phone()}, csrf=False)
    assert status == 200, (status, body[:200])


def peer_flow(client: Client, phone: Callable[[], str]) -> None:
    number = phone()
    status, body = client.post_json("/api/phone/register", {"phone_number": number}, csrf=False)
    assert status == 200, (status, body[:200])
    token = json.loads(body)["session_token"]
    status, body = client.post_json(
        "/api/phone/verify",
        {"phone_number": number, "session_token": token, "security_code": client.code(number)},
        csrf=False,
    )
    assert status == 200, (status, body[:200])


def run(
    scenario,
    port: int,
    next_phone: Callable[[], str],
    seconds: float,
    concurrency: int,
    max_requests: int,
) -> dict:
    clients = [Client(port) for _ in range(concurrency)]
    for client in clients:  # warm-up: connections, imports, first queries
        for _ in range(3):
            scenario(client, next_phone)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    issued = itertools.count()

    def worker(client: Client) -> None:
        # Bounded in time and in requests, whichever comes first.
        while time.perf_counter() < deadline and next(issued) < max_requests:
            started = time.perf_counter()
            try:
                scenario(client, next_phone)
            except Exception as exc:  # counted, shown, and fatal for the run below
                with lock:
                    errors.append(repr(exc)[:200])
                continue
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "count": len(latencies),
        "errors": errors,
        "rps": len(latencies) / wall,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per scenario and round")
    parser.add_argument(
        "--rounds", type=int, default=3, choices=range(1, 10), help="median of this many"
    )
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--max-requests", type=int, default=50_000, help="per scenario and round, at most"
    )
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--only", nargs="*", help="scenario names to run")
    args = parser.parse_args()

    python = prepare_venv()
    reset_state(python)
    # Two servers, both with the defaults except that the second turns
    # SMSVERIFY["DELIVERY_RECORDS"] off; they do not run at the same time.
    server = Server(python, args.threads)
    lean = Server(python, args.threads, BENCH_DELIVERY_RECORDS="0")
    results = {}
    try:
        # Each app's scenarios alternate, so that neither always runs first.
        # The ceiling runs last: its burst of short-lived connections slows
        # whatever runs right after it.
        scenarios = [
            ("peer send", peer_send, "132", server),
            ("ours send", ours_send, "131", server),
            ("peer verify", peer_flow, "134", server),
            ("ours verify", ours_check, "135", server),
            ("ours signup", ours_flow, "133", server),
            (f"ours send{NO_RECORDS}", ours_send, "136", lean),
            (f"ours verify{NO_RECORDS}", ours_check, "137", lean),
            ("io floor", floor, "138", server),
            ("ceiling", ceiling, "130", server),
        ]
        runs: dict[str, list[dict]] = {}
        for round_ in range(args.rounds):
            for name, scenario, prefix, target in scenarios:
                if args.only and name not in args.only:
                    continue
                # Fresh numbers every round: a number reused would hit its own code.
                numbers = phones(prefix, start=round_ * 10_000_000)
                result = run(
                    scenario,
                    target.port,
                    numbers,
                    args.seconds,
                    args.concurrency,
                    args.max_requests,
                )
                runs.setdefault(name, []).append(result)
        # The round with the median req/s stands for each scenario: one
        # disturbed round on a shared machine then does not decide a ratio.
        for name, rounds in runs.items():
            rounds.sort(key=lambda r: r["rps"])
            errors = [error for r in rounds for error in r["errors"]]
            results[name] = {**rounds[len(rounds) // 2], "errors": errors}
    finally:
        server.stop()
        lean.stop()

    peer_version = (
        subprocess.run(
            [str(python), "-m", "pip", "show", "django-phone-verify"],
            capture_output=True,
            text=True,
        )
        .stdout.split("Version: ")[1]
        .split()[0]
    )
    workers = "2 sync workers" if args.threads == 1 else f"2 workers x {args.threads} threads"
    print(
        f"\nHTTP benchmark: gunicorn, {workers}, {args.concurrency} client threads, "
        f"{args.seconds:.0f} s per scenario, median of {args.rounds} rounds; "
        f"{platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs; Redis + PostgreSQL on loopback; "
        f"peer django-phone-verify {peer_version}"
    )
    width = max(map(len, results), default=8)
    print(f"{'scenario':{width}s} {'requests':>9s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s}")
    failed = False
    for name, r in results.items():
        per = " (2 requests each)" if name.split()[1:2] in (["verify"], ["signup"]) else ""
        figures = f"{r['count']:9d} {r['rps']:8.1f} {r['p50']:8.2f} {r['p99']:8.2f}"
        print(f"{name:{width}s} {figures}{per}")
        if r["errors"]:
            failed = True
            print(f"  {len(r['errors'])} errors, first: {r['errors'][0]}")
    ratios = [
        ("io floor", "ceiling", None),
        *(
            (top, bottom, target)
            for suffix in ("", NO_RECORDS)
            for top, bottom, target in (
                (f"ours send{suffix}", "ceiling", 0.6),
                (f"ours send{suffix}", "peer send", 2),
                (f"ours verify{suffix}", "peer verify", 2),
            )
        ),
    ]
    ratios = [r for r in ratios if r[0] in results and r[1] in results]
    label_width = max((len(f"{top} / {bottom}") for top, bottom, _ in ratios), default=0)
    for top, bottom, target in ratios:
        ratio = results[top]["rps"] / results[bottom]["rps"]
        label = f"{top} / {bottom}"
        note = f"target >= {target}" if target else "the most any app doing this I/O can reach"
        print(f"{label:{label_width}s} {ratio:5.2f}  ({note})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
