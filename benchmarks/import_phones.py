"""Import benchmark: ``smsverify_import_phones`` on a tutorial site's 100,000 users.

    python benchmarks/import_phones.py [--users 100000] [--batch-size 2000] [--timeout 300]

Creates the users of the tests' tutorial model (``mobile`` holding 11 national
digits; about 0.5% bad rows: a digit short, landlines, letters, and full-width
spellings of another user's number), runs the command, and prints users per
second and seconds for the import and for a second run that must import
nothing. On SQLite (a temporary file) always; on PostgreSQL too when a server
answers on ``PGHOST``:``PGPORT`` (default 127.0.0.1:5432, user ``postgres``),
in a database of its own (``smsverify_bench_<pid>``) that it drops afterwards.
Each database runs in a child process that is killed after ``--timeout``
seconds. Settings: ``benchmarks/sites/import_site``. Target: 100,000 users
imported in under 60 s on each database.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The project root replaces this folder on the path, as in the other benchmarks.
ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

TARGET_SECONDS = 60.0
# One user in BAD_EVERY holds a value the command must refuse.
BAD_EVERY = 200
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def mobile(i: int) -> str:
    """User ``i``'s value: a valid mobile number, or every BAD_EVERY-th a bad one."""
    good = f"{(138, 139, 186, 150)[i % 4]}{i:08d}"
    if i % BAD_EVERY != BAD_EVERY - 1:
        return good
    # Each kind of bad value is unique as a string, as the column demands.
    kind = (i // BAD_EVERY) % 4
    if kind == 0:
        return good[:10]  # a digit short
    if kind == 1:
        return f"010{i:08d}"  # a Beijing landline
    if kind == 2:
        return f"x{i:010d}"  # not a number at all
    # The number of the user just before, typed with full-width digits.
    return mobile(i - 1).translate(FULL_WIDTH)


# -- child: one database ------------------------------------------------------


def child(users: int, batch_size: int) -> int:
    sys.path.insert(0, str(ROOT / "benchmarks" / "sites"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "import_site.settings"
    from io import StringIO

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
    from django.core.management import call_command

    from django_smsverify.models import PhoneNumber

    call_command("migrate", verbosity=0, interactive=False)
    User = get_user_model()
    started = time.perf_counter()
    chunk = 5000
    for start in range(0, users, chunk):
        User.objects.bulk_create(
            User(username=f"u{i}", mobile=mobile(i), password=UNUSABLE_PASSWORD_PREFIX)
            for i in range(start, min(start + chunk, users))
        )
    created = time.perf_counter() - started
    bad = sum(1 for i in range(users) if i % BAD_EVERY == BAD_EVERY - 1)

    def run() -> tuple[float, str]:
        out = StringIO()
        began = time.perf_counter()
        call_command(
            "smsverify_import_phones",
            "--field",
            "mobile",
            "--batch-size",
            str(batch_size),
            stdout=out,
            no_color=True,
        )
        return time.perf_counter() - began, out.getvalue()

    first, report = run()
    imported = PhoneNumber.objects.count()
    problems = sum(1 for line in report.splitlines() if line.startswith("user "))
    second, again = run()
    print(
        json.dumps(
            {
                "users": users,
                "bad": bad,
                "created": created,
                "seconds": first,
                "imported": imported,
                "problems": problems,
                "again_seconds": second,
                "again_imported": PhoneNumber.objects.count() - imported,
                "again_summary": again.strip().splitlines()[-1],
            }
        )
    )
    return 0


# -- parent: start, bound and clean up each database --------------------------


def pg_params() -> dict[str, str]:
    return {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "postgres"),
        "password": os.environ.get("PGPASSWORD", ""),
    }


def pg_answers() -> bool:
    params = pg_params()
    try:
        with socket.create_connection((params["host"], int(params["port"])), timeout=1):
            return True
    except OSError:
        return False


def pg_admin(sql: str) -> str:
    """Run ``sql`` outside a transaction (CREATE/DROP DATABASE need that); the server version."""
    import psycopg

    with psycopg.connect(
        dbname="postgres", autocommit=True, connect_timeout=5, **pg_params()
    ) as conn:
        conn.execute(sql)
        return conn.execute("SHOW server_version").fetchone()[0]


def measure(name: str, env: dict[str, str], args: argparse.Namespace) -> dict | None:
    command = [
        sys.executable,
        __file__,
        "--child",
        "--users",
        str(args.users),
        "--batch-size",
        str(args.batch_size),
    ]
    try:
        done = subprocess.run(
            command,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=args.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        print(f"{name}: did not finish within {args.timeout} s (killed)")
        return None
    if done.returncode != 0:
        print(f"{name}: failed (exit {done.returncode})\n{done.stderr[-3000:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(name: str, r: dict) -> bool:
    expected = r["users"] - r["bad"]
    rate = r["users"] / r["seconds"]
    print(
        f"{name}: {r['users']} users, {r['imported']} imported in {r['seconds']:.1f} s "
        f"({rate:.0f} rows/s); {r['problems']} rows reported"
    )
    print(
        f"{' ' * len(name)}  second run: {r['again_imported']} imported in "
        f"{r['again_seconds']:.1f} s ({r['users'] / r['again_seconds']:.0f} rows/s); "
        f"users created in {r['created']:.1f} s"
    )
    correct = r["imported"] == expected and r["problems"] == r["bad"] and r["again_imported"] == 0
    if not correct:
        print(f"{' ' * len(name)}  WRONG: expected {expected} imported, {r['bad']} reported")
    return correct and r["seconds"] < TARGET_SECONDS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds allowed per database (default 300)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.users, args.batch_size)

    import sqlite3

    print(
        f"django-smsverify import benchmark: {args.users} users, batch size {args.batch_size}; "
        f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs"
    )
    ok = True
    with tempfile.TemporaryDirectory(prefix="smsverify-import-") as tmp:
        result = measure(
            "sqlite",
            {"BENCH_DB": "sqlite", "BENCH_SQLITE_PATH": str(Path(tmp) / "bench.sqlite3")},
            args,
        )
        ok = result is not None and report("sqlite", result) and ok

    if pg_answers():
        database = f"smsverify_bench_{os.getpid()}"
        version = pg_admin(f'CREATE DATABASE "{database}"')
        print(f"PostgreSQL {version}, database {database}")
        try:
            result = measure(
                "postgres", {"BENCH_DB": "postgres", "BENCH_PGDATABASE": database}, args
            )
            ok = result is not None and report("postgres", result) and ok
        finally:
            # FORCE: a child killed on timeout may leave its session behind.
            pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    else:
        print("postgres: no server answers on {host}:{port}; skipped".format(**pg_params()))

    print(
        f"target {args.users} users imported in under {TARGET_SECONDS:.0f} s on each database:",
        "met" if ok else "NOT met",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
