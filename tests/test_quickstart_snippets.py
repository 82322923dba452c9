"""The quickstarts work when pasted into a new ``django-admin startproject`` site.

The snippets are read from the documents themselves (README.md,
docs/quickstart.rst and docs/zh_Hans/quickstart.rst), so the test follows the
docs: a code block whose first line is ``# settings.py`` is appended to the new
project's settings, one whose first line is ``# urls.py`` to its urls.py, and
the ``python manage.py ...`` lines of the shell blocks are run as written.
Then, as a new user would: the register page, *Send code* with the captcha
solved, the code read from the console backend's output, sign-up, and the page
``LOGIN_REDIRECT_URL`` lands on. ``runserver`` must serve the page the docs say
to open, with its stylesheet.

Also: the three quickstarts configure the same site, and the example env of
tox.ini installs what setup.cfg says the app needs (it does not build the
package, so nothing else keeps the two lists equal).
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

import django_smsverify

ROOT = Path(__file__).resolve().parent.parent
PHONE = "138 0013 8000"
PASSWORD = "Quick-start-Horse-42"
#: The Redis the quickstarts point at; the test points the site at the suite's own.
DOCUMENTED_REDIS = "redis://127.0.0.1:6379/0"

#: Each quickstart and the title its register page shows (the Chinese one sets
#: LANGUAGE_CODE = "zh-hans").
DOCUMENTS = {
    "README.md": "Sign up",
    "docs/quickstart.rst": "Sign up",
    "docs/zh_Hans/quickstart.rst": "注册",
}


@dataclass
class Quickstart:
    """The pasteable parts of one document."""

    name: str
    text: str
    settings: str
    urls: str
    shell_lines: list[str]

    def manage_commands(self) -> list[list[str]]:
        """The arguments of every ``python manage.py ...`` line, in order."""
        commands = []
        for line in self.shell_lines:
            words = shlex.split(line, comments=True)
            if words[:2] == ["python", "manage.py"]:
                commands.append(words[2:])
        return commands

    def register_url(self) -> str:
        """The address step 5 says to open."""
        match = re.search(r"http://127\.0\.0\.1:8000(/\S*?register/)", self.text)
        assert match, f"{self.name}: no http://127.0.0.1:8000/.../register/ to open"
        return match.group(1)


def code_blocks(path: Path) -> list[tuple[str, str]]:
    """(language, code) of every fenced (Markdown) or ``code-block`` (reST) block."""
    text = path.read_text()
    if path.suffix == ".md":
        return [
            (m.group(1), m.group(2))
            for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)
        ]
    blocks = []
    pattern = re.compile(r"^( *)\.\. code-block:: (\w+)\n((?:\1 +\S.*\n|[ \t]*\n)+)", re.M)
    for match in pattern.finditer(text):
        blocks.append((match.group(2), textwrap.dedent(match.group(3)).strip("\n") + "\n"))
    return blocks


def quickstart(name: str) -> Quickstart:
    """The marked snippets of ``name``; fails if one is missing or doubled."""
    path = ROOT / name
    blocks = code_blocks(path)
    marked: dict[str, list[str]] = {"# settings.py": [], "# urls.py": []}
    shell_lines: list[str] = []
    for language, code in blocks:
        first = code.splitlines()[0].strip() if code.strip() else ""
        if language == "python" and first in marked:
            marked[first].append(code)
        elif language in ("sh", "bash", "console"):
            shell_lines += [line.strip() for line in code.splitlines() if line.strip()]
    for mark, found in marked.items():
        assert len(found) == 1, f"{name}: {len(found)} python blocks start with {mark!r}, not 1"
    return Quickstart(
        name=name,
        text=path.read_text(),
        settings=marked["# settings.py"][0],
        urls=marked["# urls.py"][0],
        shell_lines=shell_lines,
    )


def settings_of(snippet: str) -> dict[str, Any]:
    """The settings the snippet leaves, pasted after a settings.py that has none."""
    namespace: dict[str, Any] = {"INSTALLED_APPS": []}
    exec(compile(snippet, "<settings snippet>", "exec"), namespace)  # noqa: S102 - our docs
    return {k: v for k, v in namespace.items() if k.isupper()}


def test_every_quickstart_has_its_snippets_and_commands() -> None:
    for name in DOCUMENTS:
        doc = quickstart(name)
        commands = [words[0] for words in doc.manage_commands()]
        assert commands[:2] == ["migrate", "runserver"], f"{name}: manage.py lines {commands}"
        assert doc.register_url() == "/accounts/phone/register/", name
        installs = [line for line in doc.shell_lines if line.startswith("pip install")]
        assert installs, f"{name}: no pip install line"
        if "django_redis" in doc.settings:
            # The cache backend comes with the [redis] extra; without it the
            # pasted settings fail on import.
            assert "django-smsverify[redis]" in installs[0], f"{name}: {installs[0]}"


def test_the_quickstarts_configure_the_same_site() -> None:
    docs = [quickstart(name) for name in DOCUMENTS]
    shared = (
        "INSTALLED_APPS",
        "AUTHENTICATION_BACKENDS",
        "LOGIN_URL",
        "LOGIN_REDIRECT_URL",
        "SMS_BACKEND",
        "CACHES",
    )
    first = settings_of(docs[0].settings)
    assert first["LOGIN_REDIRECT_URL"] == "smsverify:phone_change"
    for doc in docs[1:]:
        values = settings_of(doc.settings)
        for key in shared:
            assert values.get(key) == first.get(key), f"{doc.name} and {docs[0].name}: {key}"
        assert ast.dump(ast.parse(doc.urls)) == ast.dump(ast.parse(docs[0].urls)), doc.name


def test_example_env_installs_what_the_app_requires() -> None:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    required = {line.strip() for line in setup["options"]["install_requires"].splitlines()}
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    example = tox["testenv:example"]
    assert example.get("skip_install") == "true"
    deps = {line.strip() for line in example["deps"].splitlines()}
    assert deps - {""} == required - {""}, deps


# Runs in the pasted site through "manage.py shell": what a new user does in
# the browser, through Django's test client: the register page, *Send code*
# with the captcha solved, the code read from what the console backend prints
# in the terminal, sign-up, and the page it lands on. Prints the terminal's
# text and one RESULT line of JSON for the test.
FLOW = r"""
import contextlib, io, json, re
from django.conf import settings
from django.contrib.auth import get_user_model
from django.shortcuts import resolve_url
from django.test import Client
from django.test.utils import setup_test_environment
from django_smsverify.captcha.challenge import answer_for

setup_test_environment()  # lets the client's "testserver" host in
client = Client()
register = {register!r}
out = {{}}
page = client.get(register)
out["register"] = [page.status_code, page.content.decode()]
key = client.get("/accounts/phone/captcha/").json()["key"]
terminal = io.StringIO()
with contextlib.redirect_stdout(terminal):
    sent = client.post(register, {{"action": "send_code", "phone": {phone!r},
                                   "captcha_0": key, "captcha_1": answer_for(key)}})
out["sent"] = [sent.status_code, sent.content.decode()]
out["terminal"] = terminal.getvalue()
# The console backend's block: a "-- SMS to ... --" line, the text, dashes.
# The code is the run of digits in the text.
text = terminal.getvalue().partition(" --\n")[2].partition("-" * 40)[0]
codes = re.findall(r"(?<!\d)\d{{4,8}}(?!\d)", text)
out["code"] = codes[0] if codes else None
if codes:
    done = client.post(register, {{"phone": {phone!r}, "code": codes[0],
                                   "password1": {password!r}, "password2": {password!r}}})
    landing = client.get(done["Location"]) if done.status_code == 302 else done
    out["signed_up"] = [done.status_code, done.get("Location"), done.content.decode()]
    out["landing"] = [landing.status_code, landing.content.decode()]
out["login_redirect_url"] = resolve_url(settings.LOGIN_REDIRECT_URL)
out["users"] = get_user_model().objects.count()
print("RESULT " + json.dumps(out))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def site_env() -> dict[str, str]:
    # pytest-django exports DJANGO_SETTINGS_MODULE; the new site must use its own.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    # The site imports the same django_smsverify as this test (installed, or
    # the checkout when pytest runs from it).
    package_root = str(Path(django_smsverify.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return env


def manage(site: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=site,
        env=site_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def paste(doc: Quickstart, site: Path) -> None:
    """startproject, then append the snippets as the document says."""
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(site)],
        env=site_env(),
        check=True,
        timeout=60,
    )
    # The only change to the pasted text: the documented Redis (the machine's
    # shared server on 6379) becomes the test run's own server, and its
    # database, which the suite flushes (tests/own_redis.py, REDIS_URL).
    settings = doc.settings
    if DOCUMENTED_REDIS in settings:
        settings = settings.replace(DOCUMENTED_REDIS, django_settings.REDIS_URL)
    assert "127.0.0.1:6379" not in settings
    for name, snippet in (("settings.py", settings), ("urls.py", doc.urls)):
        path = site / "mysite" / name
        path.write_text(path.read_text() + "\n" + snippet)


def stylesheet_served(port: int, path: str) -> tuple[int, str, str]:
    """(status, HTML, CSS) of ``path`` and its first stylesheet under runserver."""
    url = f"http://127.0.0.1:{port}{path}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                status, html = response.status, response.read().decode()
            break
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    css_path = re.search(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert css_path, html
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{css_path.group(1)}") as response:
        assert response.headers["Content-Type"].startswith("text/css")
        css = response.read().decode()
    return status, html, css


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_pasted_quickstart_signs_a_new_user_up(name: str, tmp_path: Path, redis_db: Any) -> None:
    doc = quickstart(name)
    site = tmp_path / "site"
    site.mkdir()
    paste(doc, site)
    manage(site, "check", "--fail-level", "WARNING")

    commands = doc.manage_commands()
    for args in commands:
        if args[0] != "runserver":
            manage(site, *args)

    register = doc.register_url()
    script = FLOW.format(register=register, phone=PHONE, password=PASSWORD)
    output = manage(site, "shell", "-v0", "-c", script)
    assert "RESULT " in output, output
    out = json.loads(output.rpartition("RESULT ")[2])
    status, html = out["register"]
    assert status == 200
    assert DOCUMENTS[name] in html, html
    assert out["sent"][0] == 200, out["sent"]
    # The code is in the terminal, as the docs say.
    assert out["terminal"].startswith("-- SMS to +8613800138000"), out["terminal"]
    assert out["code"], out["terminal"]
    assert out["signed_up"][0] == 302, out["signed_up"]
    landed = out["signed_up"][1]
    assert landed == out["login_redirect_url"], out["signed_up"]
    assert not landed.startswith("/admin/"), landed
    # 200, not a redirect to the login page: the user is signed up and logged in.
    assert out["landing"][0] == 200, out["landing"]
    assert out["users"] == 1

    port = free_port()
    runserver = next(a for a in commands if a[0] == "runserver")
    server = subprocess.Popen(
        [sys.executable, "manage.py", *runserver, "--noreload", f"127.0.0.1:{port}"],
        cwd=site,
        env=site_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        status, html, css = stylesheet_served(port, register)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert status == 200
    assert DOCUMENTS[name] in html
    assert ".smsverify" in css
