"""Install the built wheel into a fresh virtualenv, add the app to a brand-new
``django-admin startproject`` site, and run ``check --deploy`` and ``migrate``.

Run by ``tox -e packaging`` after the wheel is built: ``python tests/packaging/fresh_site.py dist``.
Fails if installing, checking or migrating fails, or if the app reports any
system-check message of its own on a production-like configuration other than
``smsverify.W010`` for the quickstart's console backend, which it must report.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

SETTINGS_TAIL = """
# Added by tests/packaging/fresh_site.py, as the quickstart says.
INSTALLED_APPS += ["django_smsverify"]
AUTHENTICATION_BACKENDS = [
    "django_smsverify.auth.PhoneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
SMS_BACKEND = "django_smsverify.backends.console.SmsBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                      "LOCATION": "redis://127.0.0.1:6379/9"}}
DEBUG = False
ALLOWED_HOSTS = ["example.com"]
"""

URLS_TAIL = """
from django.urls import include
urlpatterns += [path("accounts/phone/", include("django_smsverify.urls"))]
"""


def run(*args: str, cwd: Path | None = None) -> str:
    print("$", " ".join(args), flush=True)
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    print(output, flush=True)
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(args)}")
    return output


def main(dist: str) -> int:
    wheel = next(Path(dist).glob("*.whl")).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        venv.create(root / "venv", with_pip=True)
        python = str(root / "venv" / "bin" / "python")
        run(python, "-m", "pip", "install", "--quiet", f"{wheel}[redis]")
        run(python, "-m", "django", "startproject", "mysite", str(root))
        settings = root / "mysite" / "settings.py"
        settings.write_text(settings.read_text() + SETTINGS_TAIL)
        urls = root / "mysite" / "urls.py"
        urls.write_text(urls.read_text() + URLS_TAIL)
        output = run(python, "manage.py", "check", "--deploy", "--fail-level", "ERROR", cwd=root)
        # The quickstart's console backend is for development: with DEBUG off,
        # check --deploy is right to say so (W010), and must say nothing else.
        ours = re.findall(r"^.*\(smsverify\.\w+\).*$", output, re.M)
        if [line for line in ours if "(smsverify.W010)" not in line]:
            raise SystemExit("the app reported system-check messages:\n" + "\n".join(ours))
        if not ours:
            raise SystemExit("check --deploy did not warn about the console SMS backend (W010)")
        run(python, "manage.py", "migrate", "--noinput", cwd=root)
        tables = run(python, "manage.py", "showmigrations", "django_smsverify", cwd=root)
        if "[X] 0001_initial" not in tables:
            raise SystemExit("django_smsverify migrations were not applied")
    print(
        "fresh site: wheel installs, check --deploy reports only W010 for the app, migrate applied"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "dist"))
