"""The example project that README's first command serves keeps working."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MANAGE = Path(__file__).resolve().parent.parent / "example_project" / "manage.py"

# Runs inside the example project, on a throwaway database and cache.
SCRIPT = """
from django.test import Client
from django.test.utils import setup_test_environment
from django.db import connection
from django.core.management import call_command
from django_smsverify.captcha.challenge import answer_for
setup_test_environment()
connection.creation.create_test_db(verbosity=0)
client = Client()
assert b"Sign up" in client.get("/").content
key = client.get("/accounts/phone/captcha/").json()["key"]
page = client.post("/accounts/phone/register/",
                   {"action": "send_code", "phone": "138 0013 8000",
                    "captcha_0": key, "captcha_1": answer_for(key)})
assert "Code sent to 138****8000".encode() in page.content, page.content
assert client.get("/admin/login/").status_code == 200
"""


def run(*args):
    # pytest-django exports DJANGO_SETTINGS_MODULE; the example must use its own.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [sys.executable, str(MANAGE), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def test_example_project_passes_checks():
    result = run("check", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr


def test_example_home_page_sends_a_code_to_the_console():
    result = run("shell", "-c", SCRIPT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SMS to +8613800138000" in result.stdout
    assert "Your verification code is" in result.stdout
