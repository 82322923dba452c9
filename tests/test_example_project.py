"""The example project that README's first command serves keeps working."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

MANAGE = Path(__file__).resolve().parent.parent / "example_project" / "manage.py"

# Runs first inside the example project: a throwaway database, a client, and a
# user with a number and a password.
PRELUDE = """
import re
from django.test import Client
from django.test.utils import setup_test_environment
from django.db import connection, transaction
from django_smsverify.adapter import get_adapter
from django_smsverify.captcha.challenge import answer_for
setup_test_environment()
connection.creation.create_test_db(verbosity=0)
client = Client()
PASSWORD = "Pass-word-123!"

def make_user(phone="+8613800138000"):
    with transaction.atomic():
        return get_adapter().register(None, phone, PASSWORD)

def part(html, tag):
    # The text of the page's <header>, <main> or <footer>.
    match = re.search(rf"<{tag}\\b.*?</{tag}>", html, re.S)
    assert match, (tag, html)
    return match.group(0)

LOGOUT_FORM = '<form action="/accounts/phone/logout/" method="post">'
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
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


def run_script(script: str) -> subprocess.CompletedProcess[str]:
    result = run("shell", "-v0", "-c", PRELUDE + textwrap.dedent(script))
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_example_project_passes_checks():
    result = run("check", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr


def test_example_home_page_sends_a_code_to_the_console():
    result = run_script(
        """
        assert b"Sign up" in client.get("/").content
        key = client.get("/accounts/phone/captcha/").json()["key"]
        page = client.post("/accounts/phone/register/",
                           {"action": "send_code", "phone": "138 0013 8000",
                            "captcha_0": key, "captcha_1": answer_for(key)})
        # The page may show the number masked (138****8000); the console has it whole.
        assert re.search(rb"Code sent to [^<]*8000[.]", page.content), page.content
        assert client.get("/admin/login/").status_code == 200
        """
    )
    assert "SMS to +8613800138000" in result.stdout
    assert "Your verification code is" in result.stdout


def test_account_page_needs_a_login_then_shows_the_number_and_three_actions():
    run_script(
        """
        page = client.get("/account/")
        assert page.status_code == 302, page.status_code
        assert page["Location"] == "/accounts/phone/login/?next=/account/", page["Location"]

        make_user()
        # A password log-in without ?next= lands on the account page.
        page = client.post("/accounts/phone/login/?method=password",
                           {"action": "submit", "method": "password",
                            "phone": "138 0013 8000", "password": PASSWORD})
        assert page.status_code == 302 and page["Location"] == "/account/", page

        main = part(client.get("/account/").content.decode(), "main")
        assert "Your account" in main, main
        assert "138 0013 8000" in main, main
        assert 'href="/accounts/phone/change/"' in main and "Change phone number" in main, main
        assert 'href="/account/password/"' in main and "Change password" in main, main
        assert '<form method="post" action="/accounts/phone/logout/">' in main, main
        assert "Log out</button>" in main, main

        # Django's own password change page wears the same layout.
        page = client.get("/account/password/").content.decode()
        assert 'class="smsverify"' in page and "smsverify.css" in page, page
        assert "Change password" in part(page, "main"), page
        page = client.post("/account/password/",
                           {"old_password": PASSWORD, "new_password1": "An0ther-pass-word",
                            "new_password2": "An0ther-pass-word"}, follow=True)
        assert "Your password has been changed." in part(page.content.decode(), "main"), page
        """
    )


def test_language_switch_turns_the_home_page_chinese():
    run_script(
        """
        page = client.get("/").content.decode()
        assert '<html lang="en">' in page, page
        header = part(page, "header")
        assert 'action="/i18n/setlang/"' in header, header
        assert 'name="language" value="zh-hans"' in header and "中文" in header, header

        switched = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
        assert switched.status_code == 302 and switched["Location"] == "/", switched

        page = client.get("/").content.decode()
        assert '<html lang="zh-hans">' in page, page
        assert "用手机号注册和登录" in part(page, "main"), page  # the example's own catalog
        assert "使用短信验证码登录" in part(page, "main"), page  # the app's catalog
        assert "验证码显示在运行服务器的终端里" in part(page, "footer"), page
        assert 'value="zh-hans" lang="zh-Hans" aria-pressed="true"' in part(page, "header")

        client.post("/i18n/setlang/", {"language": "en", "next": "/"})
        assert "Accounts by phone number" in client.get("/").content.decode()
        """
    )


def test_header_shows_the_number_and_log_out_only_when_logged_in():
    run_script(
        """
        for url in ("/", "/accounts/phone/login/", "/accounts/phone/register/"):
            header = part(client.get(url).content.decode(), "header")
            assert LOGOUT_FORM not in header, (url, header)
            assert 'href="/accounts/phone/login/"' in header, (url, header)

        client.force_login(make_user())
        for url in ("/", "/account/", "/accounts/phone/change/"):
            header = part(client.get(url).content.decode(), "header")
            assert LOGOUT_FORM in header, (url, header)
            assert "Log out</button>" in header, (url, header)
            assert '<a class="site-phone" href="/account/">138 0013 8000</a>' in header, header

        client.post("/accounts/phone/logout/")
        header = part(client.get("/").content.decode(), "header")
        assert LOGOUT_FORM not in header, header
        """
    )
