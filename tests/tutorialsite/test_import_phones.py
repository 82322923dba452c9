"""``manage.py smsverify_import_phones``: a tutorial site's ``mobile`` column into PhoneNumber.

The site has a thousand users made years ago, a few with the bad values real
tables hold. The command must import every good one, name every bad one, and
change nothing on a second run.
"""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from django_smsverify.models import PhoneNumber

pytestmark = pytest.mark.django_db

USERS = 1000

# Values a tutorial table really holds, each refused for its own reason. All fit
# the tutorial's max_length=11 (PostgreSQL enforces it).
BAD = {
    "typo": "1380013800",  # ten digits
    "landline": "01088886666",  # a Beijing fixed line
    "data_card": "14400000000",  # 144: IoT/data-only, not a mobile number
    "letters": "abc",
    "foreign": "+6581234567",  # a Singapore mobile, outside ALLOWED_REGIONS
}
ORIGINAL = "13800138000"
# The same number typed with a Chinese IME's full-width digits: a different
# string to the unique column, the same E.164 to the app.
FULL_WIDTH_DUPLICATE = "１３８００１３８０００"


@pytest.fixture(autouse=True)
def _own_table(settings):
    # The import fills the app's own PhoneNumber table; this session's settings
    # point the app at the user's field instead, which the command does not use.
    settings.SMSVERIFY = {}


def run(*args: str, **options) -> str:
    out = StringIO()
    call_command("smsverify_import_phones", *args, stdout=out, no_color=True, **options)
    return out.getvalue()


def problem_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("user ")]


def summary(output: str) -> dict[str, int]:
    line = output.strip().splitlines()[-1]
    found = re.search(
        r"(\d+) users: (\d+) (?:imported|to import), (\d+) already imported, (\d+) empty, "
        r"(\d+) problems",
        line,
    )
    assert found, line
    keys = ("users", "imported", "already", "empty", "problems")
    return dict(zip(keys, map(int, found.groups()), strict=True))


@pytest.fixture
def tutorial_users():
    """1,000 users as a tutorial site has them; returns the special users by role."""
    User = get_user_model()
    specials = {
        "original": ORIGINAL,
        "duplicate": FULL_WIDTH_DUPLICATE,
        "empty": "",
        **BAD,
    }
    prefixes = ("138", "139", "186")
    good = [
        f"{prefixes[i % 3]}{10_000_000 + i:08d}" for i in range(USERS - len(specials))
    ]  # 13810000000, 13910000001, ...
    # Specials spread through the table, the duplicate after its original, so
    # batches of any size see them in different places.
    values = list(good)
    for offset, value in enumerate(specials.values()):
        values.insert(offset * 97 + 13, value)
    users = User.objects.bulk_create(
        User(username=f"u{i}", mobile=value, password="!") for i, value in enumerate(values)
    )
    by_mobile = {u.mobile: u for u in users}
    assert len(users) == USERS
    assert users[0].pk is not None
    return {role: by_mobile[value] for role, value in specials.items()}


GOOD = USERS - 2 - len(BAD)  # minus the empty one, the duplicate and the bad values


@pytest.mark.parametrize("batch_size", [2000, 7])
def test_imports_every_good_row_and_names_every_bad_one(tutorial_users, batch_size):
    output = run("--field", "mobile", "--batch-size", str(batch_size))

    assert summary(output) == {
        "users": USERS,
        "imported": GOOD,
        "already": 0,
        "empty": 1,
        "problems": len(BAD) + 1,
    }
    assert PhoneNumber.objects.count() == GOOD
    assert not PhoneNumber.objects.filter(verified_at__isnull=True).exists()
    assert set(PhoneNumber.objects.values_list("number", flat=True)) >= {"+8613800138000"}

    lines = problem_lines(output)
    assert len(lines) == len(BAD) + 1
    for role, value in BAD.items():
        user = tutorial_users[role]
        [line] = [line for line in lines if line.startswith(f"user {user.pk}:")]
        assert repr(value) in line
        assert not PhoneNumber.objects.filter(user=user).exists()
    foreign = next(
        line for line in lines if line.startswith(f"user {tutorial_users['foreign'].pk}:")
    )
    assert "outside ALLOWED_REGIONS" in foreign
    landline = next(
        line for line in lines if line.startswith(f"user {tutorial_users['landline'].pk}:")
    )
    assert "not a valid mobile number" in landline

    # The later user of the pair is skipped and named with the earlier one.
    original, duplicate = tutorial_users["original"], tutorial_users["duplicate"]
    [line] = [line for line in lines if line.startswith(f"user {duplicate.pk}:")]
    assert repr(FULL_WIDTH_DUPLICATE) in line
    assert f"duplicate of user {original.pk}" in line
    assert PhoneNumber.objects.get(user=original).number == "+8613800138000"
    assert not PhoneNumber.objects.filter(user=duplicate).exists()

    # The empty value is skipped silently.
    assert not any(line.startswith(f"user {tutorial_users['empty'].pk}:") for line in lines)
    assert not PhoneNumber.objects.filter(user=tutorial_users["empty"]).exists()


def test_a_sample_user_gets_an_e164_number():
    User = get_user_model()
    user = User.objects.create(username="zhang", mobile="18612345678")

    run("--field", "mobile")

    phone = PhoneNumber.objects.get(user=user)
    assert phone.number == "+8618612345678"
    assert phone.verified_at is not None


def test_second_run_imports_nothing_and_reports_the_same_problems(tutorial_users):
    first = run("--field", "mobile", "--batch-size", "250")
    stamps = dict(PhoneNumber.objects.values_list("user_id", "verified_at"))

    second = run("--field", "mobile", "--batch-size", "250")

    assert summary(second) == {
        "users": USERS,
        "imported": 0,
        "already": GOOD,
        "empty": 1,
        "problems": len(BAD) + 1,
    }
    assert problem_lines(second) == problem_lines(first)
    assert dict(PhoneNumber.objects.values_list("user_id", "verified_at")) == stamps


def test_dry_run_writes_nothing_and_predicts_the_real_run(tutorial_users):
    dry = run("--field", "mobile", "--dry-run", "--batch-size", "100")

    assert PhoneNumber.objects.count() == 0
    assert "Dry run, nothing was written" in dry
    real = run("--field", "mobile", "--batch-size", "100")
    assert summary(dry) == summary(real)
    assert problem_lines(dry) == problem_lines(real)


def test_a_different_existing_number_is_a_conflict_and_left_alone():
    User = get_user_model()
    user = User.objects.create(username="li", mobile="13912345678")
    existing = PhoneNumber.objects.create(user=user, number="+8613700000000", verified_at=None)

    output = run("--field", "mobile")

    [line] = problem_lines(output)
    assert line.startswith(f"user {user.pk}: '13912345678': ")
    assert "conflicts with the existing number +8613700000000" in line
    existing.refresh_from_db()
    assert existing.number == "+8613700000000"
    assert existing.verified_at is None
    assert PhoneNumber.objects.count() == 1


def test_a_number_another_user_already_holds_is_a_duplicate():
    User = get_user_model()
    holder = User.objects.create(username="holder", mobile="13611111111")
    # The holder proved 13922222222 through the app; the stale column says otherwise.
    PhoneNumber.objects.create(user=holder, number="+8613922222222")
    # A later user whose column carries that same number.
    taker = User.objects.create(username="taker", mobile="13922222222")

    output = run("--field", "mobile")

    lines = problem_lines(output)
    assert len(lines) == 2
    assert any(line.startswith(f"user {holder.pk}:") and "conflicts" in line for line in lines)
    assert any(
        line.startswith(f"user {taker.pk}:") and f"duplicate of user {holder.pk}" in line
        for line in lines
    )
    assert not PhoneNumber.objects.filter(user=taker).exists()


def test_numbers_are_read_in_the_region_given():
    User = get_user_model()
    user = User.objects.create(username="chan", mobile="51234567")

    output = run("--field", "mobile", "--region", "hk")

    # Hong Kong is not allowed by default (only DEFAULT_REGION is), and the
    # command says so before the rows.
    assert "not in SMSVERIFY['ALLOWED_REGIONS']" in output
    [line] = problem_lines(output)
    assert line.startswith(f"user {user.pk}: '51234567': ")
    assert "outside ALLOWED_REGIONS" in line
    assert not PhoneNumber.objects.exists()


def test_allowed_region_number_is_imported_with_region(settings):
    settings.SMSVERIFY = {"ALLOWED_REGIONS": ["CN", "HK"]}
    User = get_user_model()
    user = User.objects.create(username="chan", mobile="51234567")

    run("--field", "mobile", "--region", "HK")

    assert PhoneNumber.objects.get(user=user).number == "+85251234567"


def test_reads_each_batch_in_a_few_queries(tutorial_users, django_assert_max_num_queries):
    # 4 batches of 250 and a last empty read: a handful of queries each, never one per user.
    with django_assert_max_num_queries(5 * 8):
        run("--field", "mobile", "--batch-size", "250")
    assert PhoneNumber.objects.count() == GOOD


def test_a_number_taken_while_the_batch_runs_is_reported_not_fatal(monkeypatch):
    """A sign-up commits the number between the command's read and its write."""
    from django_smsverify.management.commands import smsverify_import_phones as command

    User = get_user_model()
    newcomer = User.objects.create(username="newcomer", mobile="13500000001")
    PhoneNumber.objects.create(user=newcomer, number="+8613533333333")
    old = User.objects.create(username="old", mobile="13533333333")
    other = User.objects.create(username="other", mobile="13544444444")
    real_in_chunks = command._in_chunks
    stale_reads = []

    def first_read_misses_the_sign_up(queryset, lookup, values, fields, database):
        # The first look-up by number runs before the sign-up commits.
        if lookup == "number" and not stale_reads:
            stale_reads.append(values)
            return iter(())
        return real_in_chunks(queryset, lookup, values, fields, database)

    monkeypatch.setattr(command, "_in_chunks", first_read_misses_the_sign_up)

    output = run("--field", "mobile")

    assert stale_reads, "the stale read was not exercised"
    # The newcomer's column still holds an old number: a conflict, as in any run.
    [line] = [line for line in problem_lines(output) if line.startswith(f"user {old.pk}:")]
    assert line.startswith(f"user {old.pk}: '13533333333': ")
    assert f"duplicate of user {newcomer.pk}" in line
    assert PhoneNumber.objects.get(user=newcomer).number == "+8613533333333"
    assert PhoneNumber.objects.get(user=other).number == "+8613544444444"
    assert summary(output)["imported"] == 1


def test_a_batch_that_keeps_failing_stops_with_a_clear_error(monkeypatch):
    from django_smsverify.management.commands import smsverify_import_phones as command

    User = get_user_model()
    holder = User.objects.create(username="holder", mobile="13500000001")
    PhoneNumber.objects.create(user=holder, number="+8613533333333")
    User.objects.create(username="old", mobile="13533333333")
    monkeypatch.setattr(command, "_in_chunks", lambda *args: iter(()))

    with pytest.raises(CommandError, match="first batch of users failed 3 times"):
        run("--field", "mobile")
    assert PhoneNumber.objects.count() == 1


@pytest.mark.parametrize("field", ["phone", "groups", "smsverify_phone"])
def test_a_field_that_holds_no_numbers_is_refused(field):
    with pytest.raises(CommandError, match=rf"no field '{field}'.*Choose one of: .*mobile"):
        run("--field", field)


def test_an_unknown_region_is_refused():
    with pytest.raises(CommandError, match="Unknown region 'XX'"):
        run("--field", "mobile", "--region", "XX")


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(CommandError, match="batch-size"):
        run("--field", "mobile", "--batch-size", "0")
