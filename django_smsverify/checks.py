"""System checks. Ids: ``smsverify.E0xx``/``W0xx`` core, ``E1xx`` providers, ``E6xx``/``W601``
routing (``tests/test_routing.py``),
``E2xx`` captcha, ``E3xx`` web, ``E4xx``/``W4xx`` Celery delivery, ``E5xx`` REST
API, ``E7xx`` pumping guard and traffic counters (``tests/test_guard_checks.py``),
``E017``/``E018`` clock and replica wait (``tests/test_store_clock.py``).
``W010`` (a development SMS backend with ``DEBUG`` off) and ``W013``
(requests without a client address were refused) and ``W014`` (the
verification Redis may evict keys) and ``W015`` (a shared cache that cannot
run the atomic store) are deployment checks: they run only with
``manage.py check --deploy``. Each id has a test
(``tests/test_checks.py``; the E4xx ones in ``tests/test_celery_checks.py``, the
E5xx ones in ``tests/test_api_checks.py``, W010, E301 and E403 in
``tests/test_site_checks.py``, W014 in ``tests/test_memory_pressure.py``, W015 in
``tests/test_shared_cache_warning.py``, E015 in ``tests/test_prune.py``, and E016 in
``tests/test_key_rotation.py``)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from django_smsverify.conf import (
    DEFAULTS,
    PASSWORD_LOGIN_LIMIT_KEYS,
    PHONE_CHANGE_PROOFS,
    SEND_LIMIT_KEYS,
    app_settings,
    hash_key_problem,
)

# NIST SP 800-63B (5.1.3) and OWASP ASVS (2.7) cap out-of-band codes at 10 minutes.
MAX_RECOMMENDED_TTL = 600

#: The longest ``DELIVERY_RECORDS_RETENTION`` accepted, in days (a century):
#: far beyond any policy, and well inside what a datetime can subtract.
MAX_RETENTION_DAYS = 36_500


def unknown_key_errors(
    value: Mapping[str, Any], known: Iterable[str], where: str, check_id: str
) -> list[Any]:
    """One error per key of ``value`` not in ``known``, naming the key (typos are
    the commonest configuration bug). ``where`` names the dict, e.g.
    ``"SMSVERIFY['CELERY']"``; the hint lists ``known`` in the order given."""
    known = list(known)
    return [
        Error(
            f"Unknown key {key!r} in {where}.",
            hint="Known keys: " + ", ".join(known) + ".",
            id=check_id,
        )
        for key in value
        if key not in known
    ]


@register(Tags.compatibility)
def check_backend(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    path = app_settings.SMS_BACKEND
    try:
        import_string(path)
    except ImportError as exc:
        return [
            Error(
                f"SMS_BACKEND {path!r} cannot be imported: {exc}",
                hint="Set SMS_BACKEND to the dotted path of an SMS backend class, e.g. "
                "'django_smsverify.backends.console.SmsBackend'.",
                id="smsverify.E001",
            )
        ]
    return []


@register(Tags.compatibility)
def check_unknown_keys(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    errors: list[Any] = []
    raw = getattr(settings, "SMSVERIFY", {})
    if not isinstance(raw, dict):
        return [
            Error(
                "SMSVERIFY must be a dict.",
                hint="See the settings reference for the keys it accepts.",
                id="smsverify.E002",
            )
        ]
    errors += unknown_key_errors(raw, sorted(DEFAULTS), "SMSVERIFY", "smsverify.E002")
    for name, known in (
        ("SEND_LIMITS", SEND_LIMIT_KEYS),
        ("PASSWORD_LOGIN_LIMITS", PASSWORD_LOGIN_LIMIT_KEYS),
    ):
        limits = raw.get(name) or {}
        if isinstance(limits, dict):
            errors += unknown_key_errors(limits, known, f"SMSVERIFY[{name!r}]", "smsverify.E002")
    return errors


@register(Tags.security)
def check_code_ttl(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    ttl = _int_or_none("CODE_TTL")
    if ttl is not None and ttl > MAX_RECOMMENDED_TTL:
        return [
            Warning(
                f"SMSVERIFY['CODE_TTL'] is {ttl} seconds; codes should not live "
                f"longer than {MAX_RECOMMENDED_TTL}.",
                hint="NIST SP 800-63B and OWASP ASVS cap one-time codes at 10 minutes.",
                id="smsverify.W003",
            )
        ]
    return []


@register(Tags.caches)
def check_shared_cache(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    if settings.DEBUG:
        return []
    alias = app_settings.CACHE
    backend = settings.CACHES.get(alias, {}).get("BACKEND", "")
    if backend.endswith("locmem.LocMemCache") or backend.endswith("dummy.DummyCache"):
        return [
            Warning(
                f"SMSVERIFY['CACHE'] is {alias!r}, a per-process cache ({backend}).",
                hint="Codes, cooldowns and limits are not shared between worker processes. "
                "Use a Redis cache (django-redis or django.core.cache.backends.redis.RedisCache).",
                id="smsverify.W004",
            )
        ]
    return []


#: What each alias loses on a cache that cannot run the store's scripts (W015).
_NON_ATOMIC_RISKS = {
    "CACHE": "codes, resend cooldowns, send quotas and wrong-guess counts are checked and "
    "updated under a lock that holds within one process only, so across processes "
    "and servers a code can be accepted twice, a cooldown or quota bypassed, and "
    "more wrong guesses evaluated than MAX_ATTEMPTS allows",
    "CAPTCHA_CACHE": "a challenge is checked and ended under a lock that holds within one "
    "process only, so across processes and servers one solved captcha can be "
    "accepted more than once",
}


@register(Tags.caches, deploy=True)
def check_atomic_store(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """A shared cache that cannot run the store's atomic scripts (anything but
    Redis or Valkey: Memcached, the database or file cache) holds verification
    state or captcha challenges (W015, ``--deploy`` only). LocMem and Dummy are
    W004's; a missing alias is E007's."""
    from django_smsverify.store import is_atomic

    warnings: list[Any] = []
    seen: set[str] = set()
    for key in ("CACHE", "CAPTCHA_CACHE"):
        alias = getattr(app_settings, key)
        if alias in seen or alias not in settings.CACHES:
            continue
        seen.add(alias)
        backend = str(settings.CACHES[alias].get("BACKEND", ""))
        if backend.endswith(("locmem.LocMemCache", "dummy.DummyCache")):
            continue
        try:
            backend_class = import_string(backend)
        except ImportError:
            continue  # Django reports caches that cannot be imported.
        if not isinstance(backend_class, type) or is_atomic(backend_class):
            continue
        warnings.append(
            Warning(
                f"SMSVERIFY[{key!r}] is {alias!r} ({backend}), a cache the app's atomic "
                f"store cannot run on: {_NON_ATOMIC_RISKS[key]}.",
                hint="Point it at Redis or Valkey: django-redis, Django's "
                "django.core.cache.backends.redis.RedisCache or django-valkey (standalone, "
                "Sentinel or cluster). The generic store is meant for one process: "
                "development and tests. See docs/deployment.rst.",
                id="smsverify.W015",
            )
        )
    return warnings


@register(Tags.security)
def check_test_numbers(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    if not app_settings.TEST_NUMBERS or settings.DEBUG or app_settings.ALLOW_TEST_NUMBERS:
        return []
    return [
        Error(
            "SMSVERIFY['TEST_NUMBERS'] is set while DEBUG is False.",
            hint="Anyone who knows a test number and its fixed code can use it. Remove "
            "TEST_NUMBERS, or set SMSVERIFY['ALLOW_TEST_NUMBERS'] = True if this is deliberate "
            "(for example for app-store review).",
            id="smsverify.E005",
        )
    ]


@register(Tags.compatibility)
def check_values(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    errors: list[Any] = []
    bounds = {
        "CODE_LENGTH": (4, 10),
        "CODE_TTL": (1, 86_400),
        "RESEND_COOLDOWN": (0, 86_400),
        "MAX_ATTEMPTS": (1, 1000),
        "IPV6_PREFIX": (32, 128),
    }
    for key, (low, high) in bounds.items():
        value = _user().get(key, DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors.append(
                Error(
                    f"SMSVERIFY[{key!r}] must be a whole number from {low} to {high}; "
                    f"got {value!r}.",
                    id="smsverify.E006",
                )
            )
    for name in ("SEND_LIMITS", "PASSWORD_LOGIN_LIMITS"):
        raw_limits = _user().get(name)
        if raw_limits is not None and not isinstance(raw_limits, dict):
            errors.append(
                Error(
                    f"SMSVERIFY[{name!r}] must be a dict; got {raw_limits!r}.",
                    id="smsverify.E006",
                )
            )
            continue
        for key, value in getattr(app_settings, name).items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                errors.append(
                    Error(
                        f"SMSVERIFY[{name!r}][{key!r}] must be a positive whole number or None; "
                        f"got {value!r}.",
                        id="smsverify.E006",
                    )
                )
    records = _user().get("DELIVERY_RECORDS", DEFAULTS["DELIVERY_RECORDS"])
    if not isinstance(records, bool):
        errors.append(
            Error(
                f"SMSVERIFY['DELIVERY_RECORDS'] must be True or False; got {records!r}.",
                id="smsverify.E006",
            )
        )
    proof = _user().get("PHONE_CHANGE_PROOF", DEFAULTS["PHONE_CHANGE_PROOF"])
    if proof not in PHONE_CHANGE_PROOFS:
        errors.append(
            Error(
                f"SMSVERIFY['PHONE_CHANGE_PROOF'] must be one of "
                f"{', '.join(map(repr, PHONE_CHANGE_PROOFS))}; got {proof!r}.",
                id="smsverify.E006",
            )
        )
    if app_settings.DELIVERY not in ("sync", "celery"):
        errors.append(
            Error(
                f"SMSVERIFY['DELIVERY'] must be 'sync' or 'celery'; got {app_settings.DELIVERY!r}.",
                id="smsverify.E006",
            )
        )
    return errors


def retention_is_valid(value: Any) -> bool:
    """Whether ``value`` is a ``DELIVERY_RECORDS_RETENTION`` the app accepts:
    ``None`` or a whole number of days from 1 to :data:`MAX_RETENTION_DAYS`."""
    if value is None:
        return True
    return (
        isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_RETENTION_DAYS
    )


@register(Tags.compatibility)
def check_delivery_records_retention(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``DELIVERY_RECORDS_RETENTION`` is ``None`` or a number of days (E015)."""
    value = app_settings.DELIVERY_RECORDS_RETENTION
    if retention_is_valid(value):
        return []
    return [
        Error(
            f"SMSVERIFY['DELIVERY_RECORDS_RETENTION'] must be a whole number of days from 1 "
            f"to {MAX_RETENTION_DAYS} or None; got {value!r}.",
            hint="It is how many days manage.py smsverify_prune keeps SmsDelivery rows, "
            "such as 30. Shorter ages go on the command line: --older-than 12h.",
            id="smsverify.E015",
        )
    ]


@register(Tags.security)
def check_hash_key(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``HASH_KEY`` is ``None``, a key, or a list of the current key and its fallbacks (E016)."""
    problem = hash_key_problem(app_settings._get("HASH_KEY"))
    if not problem:
        return []
    return [
        Error(
            f"SMSVERIFY['HASH_KEY'] {problem}.",
            hint="Leave it out to key the app's hashes from SECRET_KEY, or set it to a "
            "secret string such as django.core.management.utils.get_random_secret_key() "
            "gives; during a rotation, a list of the new key and then the old ones.",
            id="smsverify.E016",
        )
    ]


@register(Tags.caches)
def check_cache_alias(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    errors: list[Any] = []
    for key in ("CACHE", "CAPTCHA_CACHE"):
        alias = _user().get(key, DEFAULTS[key])
        if alias is None and key == "CAPTCHA_CACHE":
            continue  # the same as CACHE
        if alias not in settings.CACHES:
            errors.append(
                Error(
                    f"SMSVERIFY[{key!r}] is {alias!r}, which is not in CACHES.",
                    hint="Name an alias defined in settings.CACHES.",
                    id="smsverify.E007",
                )
            )
    return errors


@register(Tags.compatibility)
def check_regions_and_numbers(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    import phonenumbers

    errors: list[Any] = []
    known = phonenumbers.SUPPORTED_REGIONS
    regions = {app_settings.DEFAULT_REGION} | set(app_settings.ALLOWED_REGIONS or ())
    for region in sorted(regions):
        if region not in known:
            errors.append(
                Error(
                    f"{region!r} is not a region phonenumbers knows.",
                    hint="Use ISO 3166-1 alpha-2 codes such as 'CN', 'HK', 'US'.",
                    id="smsverify.E008",
                )
            )
    if errors:
        return errors
    from django_smsverify.phone import normalize

    length = _int_or_none("CODE_LENGTH")
    for raw, code in app_settings.TEST_NUMBERS.items():
        try:
            normalize(raw)
        except ValueError:
            errors.append(
                Error(
                    f"SMSVERIFY['TEST_NUMBERS'] has {raw!r}, which is not an accepted mobile "
                    "number.",
                    id="smsverify.E008",
                )
            )
        if not (isinstance(code, str) and code.isdigit() and len(code) == length):
            errors.append(
                Error(
                    f"The test code for {raw!r} must be a string of {length} digits.",
                    id="smsverify.E008",
                )
            )
    return errors


@register(Tags.compatibility)
def check_celery(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``SMSVERIFY["CELERY"]`` options (E401), and what ``DELIVERY = "celery"``
    needs: Celery installed (E402) and a cache the workers share (W401)."""
    errors: list[Any] = _celery_option_errors(_user().get("CELERY", DEFAULTS["CELERY"]))
    if app_settings.DELIVERY != "celery":
        return errors
    try:
        import celery  # noqa: F401
    except ImportError:
        errors.append(
            Error(
                "SMSVERIFY['DELIVERY'] is 'celery' but Celery is not installed.",
                hint='pip install "django-smsverify[celery]"',
                id="smsverify.E402",
            )
        )
    backend = settings.CACHES.get(app_settings.CACHE, {}).get("BACKEND", "")
    if backend.endswith(("locmem.LocMemCache", "dummy.DummyCache")):
        # Unlike W004 this holds with DEBUG on too: the worker, another
        # process, could never read the message the web process left for it.
        errors.append(
            Warning(
                f"SMSVERIFY['DELIVERY'] is 'celery' but SMSVERIFY['CACHE'] "
                f"({app_settings.CACHE!r}) is a per-process cache ({backend}).",
                hint="Celery workers run in other processes and find nothing to send. Use a "
                "Redis cache shared by the web processes and the workers.",
                id="smsverify.W401",
            )
        )
    return errors


def _celery_option_errors(value: Any) -> list[Any]:
    if not isinstance(value, dict):
        return [Error("SMSVERIFY['CELERY'] must be a dict.", id="smsverify.E401")]
    known = DEFAULTS["CELERY"]
    errors = unknown_key_errors(value, known, "SMSVERIFY['CELERY']", "smsverify.E401")
    merged = {**known, **{k: v for k, v in value.items() if k in known}}

    def bad(key: str, expected: str) -> None:
        errors.append(
            Error(
                f"SMSVERIFY['CELERY'][{key!r}] must be {expected}; got {merged[key]!r}.",
                id="smsverify.E401",
            )
        )

    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    queue = merged["QUEUE"]
    if queue is not None and not (isinstance(queue, str) and queue.strip()):
        bad("QUEUE", "a queue name or None")
    priority = merged["PRIORITY"]
    if priority is not None and not (
        isinstance(priority, int) and not isinstance(priority, bool) and 0 <= priority <= 255
    ):
        bad("PRIORITY", "a whole number from 0 to 255 or None")
    retries = merged["MAX_RETRIES"]
    if not (isinstance(retries, int) and not isinstance(retries, bool) and 0 <= retries <= 100):
        bad("MAX_RETRIES", "a whole number from 0 to 100")
    if not (number(merged["RETRY_BACKOFF"]) and merged["RETRY_BACKOFF"] > 0):
        bad("RETRY_BACKOFF", "a number of seconds above 0")
    if not (number(merged["RETRY_BACKOFF_MAX"]) and merged["RETRY_BACKOFF_MAX"] > 0):
        bad("RETRY_BACKOFF_MAX", "a number of seconds above 0")
    if not isinstance(merged["RETRY_JITTER"], bool):
        bad("RETRY_JITTER", "True or False")
    return errors


#: pip lines for the client library of each kombu transport this check can find
#: missing. Celery's own bundles first. For Redis that is ``celery[redis]``, not
#: an extra of ours: our ``[redis]`` extra already brings redis-py (for the
#: cache), and ``celery[redis]`` is the bundle Celery documents and keeps in step
#: with kombu. Where Celery has no bundle (or one for Python < 3.11 only), kombu's.
TRANSPORT_BUNDLES = {
    "kombu.transport.redis": "celery[redis]",
    "kombu.transport.SQS": "celery[sqs]",
    "kombu.transport.mongodb": "celery[mongodb]",
    "kombu.transport.sqlalchemy": "celery[sqlalchemy]",
    "kombu.transport.gcpubsub": "celery[gcpubsub]",
    "kombu.transport.librabbitmq": "kombu[librabbitmq]",
    "kombu.transport.confluentkafka": "kombu[confluentkafka]",
    "kombu.transport.azurestoragequeues": "kombu[azurestoragequeues]",
    "kombu.transport.azureservicebus": "kombu[azureservicebus]",
}

#: Transports that import their client library inside ``try``/``except
#: ImportError``, so importing the transport does not name the missing library
#: (kombu 5.7's redis module fails with an AttributeError instead). Others that
#: do so (consul, etcd, zookeeper, pyro, qpid, SLMQ, pgmq) import cleanly
#: without their library and pass this check; kombu refuses them when Celery
#: first connects.
TRANSPORT_CLIENT_LIBRARIES = {"kombu.transport.redis": "redis", "kombu.transport.SQS": "boto3"}


@register(Tags.compatibility)
def check_celery_broker(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """With ``DELIVERY = "celery"``, the transport of each Celery broker URL
    can be imported (E403)."""
    if app_settings.DELIVERY != "celery":
        return []
    try:
        import celery
        from kombu.transport import TRANSPORT_ALIASES
    except ImportError:
        return []  # smsverify.E402 reports it
    # What Celery publishes to: the current app (the site's, once its package
    # has imported it) and CELERY_BROKER_URL, for a site whose app is not loaded yet.
    urls: list[str] = []
    for value in (
        celery.current_app.conf.broker_write_url,
        getattr(settings, "CELERY_BROKER_URL", None),
    ):
        for item in [value] if isinstance(value, str) else (value or []):
            # Failover URLs are separated by ';', and kombu may try each one.
            urls += [url.strip() for url in str(item).split(";") if "://" in url]
    errors: list[Any] = []
    seen: set[str] = set()
    for url in urls:
        scheme = url.split("://", 1)[0]
        # Only the scheme goes into a message: the rest of the URL can hold a password.
        # kombu reads "sqla+postgresql://" as the transport "sqla" and lowercases
        # other schemes (its URL parser does).
        transport = scheme.split("+", 1)[0] if "+" in scheme else scheme.lower()
        if transport in seen:
            continue
        seen.add(transport)
        path = TRANSPORT_ALIASES.get(transport)
        if not isinstance(path, str):
            errors.append(
                Error(
                    f"SMSVERIFY['DELIVERY'] is 'celery' but the Celery broker URL's scheme "
                    f"{scheme!r} is not a transport kombu knows. Every send would answer 503.",
                    hint="Use a broker URL kombu supports, such as 'redis://host:6379/0' or "
                    "'amqp://user:password@host:5672//'.",
                    id="smsverify.E403",
                )
            )
            continue
        module = path.split(":", 1)[0] if ":" in path else path.rsplit(".", 1)[0]
        problem = _transport_problem(module)
        if problem is None:
            continue
        bundle = TRANSPORT_BUNDLES.get(module)
        errors.append(
            Error(
                f"SMSVERIFY['DELIVERY'] is 'celery' but the Celery broker's {transport!r} "
                f"transport cannot be used: {problem}. Every send would answer 503.",
                hint=f'pip install "{bundle}"'
                if bundle
                else f"Install the Python package that kombu's {transport!r} transport needs.",
                id="smsverify.E403",
            )
        )
    return errors


def _transport_problem(module: str) -> str | None:
    """Why kombu's transport ``module`` cannot be used, or None."""
    library = TRANSPORT_CLIENT_LIBRARIES.get(module)
    try:
        if library:
            importlib.import_module(library)
        importlib.import_module(module)
    except ImportError as exc:
        return f"the module {exc.name or library or module!r} cannot be imported"
    except Exception as exc:
        # An import that fails otherwise fails the same way when Celery sends.
        return f"importing {module} fails with {type(exc).__name__}: {exc}"
    return None


@register(Tags.compatibility)
def check_auth_backend(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``PhoneBackend`` in ``AUTHENTICATION_BACKENDS`` when the login pages or
    the REST API are installed (E301)."""
    if not _login_urls_installed():
        return []
    from django_smsverify.adapter import AUTH_BACKEND, DefaultAdapter
    from django_smsverify.auth import PhoneBackend

    backends = list(settings.AUTHENTICATION_BACKENDS)
    if AUTH_BACKEND in backends:
        return []
    subclasses = [path for path in backends if _is_subclass(path, PhoneBackend)]
    if not subclasses:
        return [
            Error(
                f"AUTHENTICATION_BACKENDS does not include {AUTH_BACKEND!r}. Users logged in "
                "by SMS code are anonymous again on their next request, and every login by "
                "phone number and password is refused.",
                hint=f"Add {AUTH_BACKEND!r} to AUTHENTICATION_BACKENDS, before "
                "'django.contrib.auth.backends.ModelBackend'. With django-allauth, both "
                "'allauth.account.auth_backends.AuthenticationBackend' and PhoneBackend go "
                "in the list.",
                id="smsverify.E301",
            )
        ]
    try:
        adapter = import_string(app_settings.ADAPTER)
    except ImportError:
        adapter = DefaultAdapter
    # Django's get_user() only trusts the exact backend path stored in the
    # session, and DefaultAdapter.login() stores PhoneBackend's own path: a
    # subclass alone serves password checks but not the session that follows.
    if getattr(adapter, "login", None) is not DefaultAdapter.login:
        return []
    return [
        Error(
            f"AUTHENTICATION_BACKENDS has {subclasses[0]!r}, a subclass of PhoneBackend, "
            f"but not {AUTH_BACKEND!r} itself, the backend the app logs users in with. "
            "Users logged in by the app are anonymous again on their next request.",
            hint=f"Add {AUTH_BACKEND!r} as well, or override login() in your "
            "SMSVERIFY['ADAPTER'] to log users in with your own backend.",
            id="smsverify.E301",
        )
    ]


def _login_urls_installed() -> bool:
    for name in ("smsverify:login", "smsverify_api:login"):
        try:
            reverse(name)
        except NoReverseMatch:
            continue
        except ImportError:
            # A URLconf that cannot be imported is reported by Django's own checks.
            return False
        return True
    return False


def _is_subclass(path: str, base: type) -> bool:
    try:
        value = import_string(path)
    except ImportError:
        return False  # Django reports backends that cannot be imported.
    return isinstance(value, type) and issubclass(value, base)


@register(Tags.security, deploy=True)
def check_development_backend(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """A console, locmem or dummy ``SMS_BACKEND`` with ``DEBUG`` off (W010, ``--deploy`` only)."""
    if settings.DEBUG:
        return []
    path = app_settings.SMS_BACKEND
    try:
        backend = import_string(path)
    except ImportError:
        return []  # smsverify.E001 reports it
    from django_smsverify.backends import console, dummy, locmem

    development = (
        (
            console.SmsBackend,
            "the console backend",
            "prints every verification code to the server's output",
        ),
        (
            locmem.SmsBackend,
            "the locmem backend",
            "keeps every message in memory (django_smsverify.outbox)",
        ),
        (dummy.SmsBackend, "the dummy backend", "throws every message away"),
    )
    for cls, name, does in development:
        if not (isinstance(backend, type) and issubclass(backend, cls)):
            continue
        if not getattr(settings, "SMS_BACKEND", None):
            setting = f"SMS_BACKEND is not set, so {name} (the default) is in use"
        elif backend is cls:
            setting = f"SMS_BACKEND is {path!r}, {name},"
        else:
            setting = f"SMS_BACKEND is {path!r}, a subclass of {name},"
        return [
            Warning(
                f"{setting} while DEBUG is False: it {does} and sends no SMS.",
                hint="Set SMS_BACKEND to a real provider: "
                "'django_smsverify.backends.ronglian.SmsBackend' (Ronglian, 容联云) or "
                "'django_smsverify.backends.tencent.SmsBackend' (Tencent Cloud).",
                id="smsverify.W010",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_unknown_client_address(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Requests arrived whose client address could not be determined (W013,
    ``--deploy`` only): the app refused them, since a per-client limit can
    neither be skipped nor shared by everybody."""
    from django.core.cache import caches

    from django_smsverify.adapter import UNKNOWN_CLIENT_SEEN

    try:
        seen = caches[app_settings.CACHE].get(UNKNOWN_CLIENT_SEEN)
    except Exception:
        return []  # a cache that is down is reported when it is used
    if not seen:
        return []
    proxies = app_settings.TRUSTED_PROXIES
    return [
        Warning(
            "Requests arrived without a client address (REMOTE_ADDR empty"
            + (f", fewer than {proxies} X-Forwarded-For hops" if proxies else "")
            + f", TRUSTED_PROXIES = {proxies}) in the last 7 days; the app answered them 503 "
            "wherever a per-client limit applies (sending codes, password login, phone status).",
            hint="Behind a proxy on a unix socket, have the proxy send X-Forwarded-For (nginx: "
            "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for) and set "
            "SMSVERIFY['TRUSTED_PROXIES'] to the number of proxies, or have the WSGI server "
            "set REMOTE_ADDR from the proxy protocol.",
            id="smsverify.W013",
        )
    ]


@register(Tags.caches, deploy=True)
def check_eviction_policy(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """The Redis that holds verification state may evict keys (W014,
    ``--deploy`` only). Silent when that cache is not Redis or does not answer."""
    alias = app_settings.CACHE
    if alias not in settings.CACHES:
        return []  # smsverify.E007 reports it
    from django_smsverify.store import get_store
    from django_smsverify.store.redis import RedisStore

    try:
        store = get_store(alias)
        policy = store.maxmemory_policy() if isinstance(store, RedisStore) else None
    except Exception:
        return []  # a cache that is down is reported when it is used
    if policy is None or policy == "noeviction":
        return []
    return [
        Warning(
            f"SMSVERIFY['CACHE'] ({alias!r}) is on a Redis whose maxmemory-policy is "
            f"{policy!r}: when its memory fills it evicts keys, and with them resend "
            "cooldowns, send quotas and wrong-guess counts, which then start again from zero.",
            hint="Run that Redis with maxmemory-policy noeviction: when full it refuses "
            "writes and the app answers 503 rather than forget a limit. Give it enough "
            "maxmemory, keep other data off it, and put captcha challenges on a cache of "
            "their own that may evict (SMSVERIFY['CAPTCHA_CACHE']). See docs/deployment.rst.",
            id="smsverify.W014",
        )
    ]


@register(Tags.compatibility)
def check_clock_and_replicas(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``smsverify.E017``: ``CLOCK`` is not "store" or "app"; ``E018``: a bad
    ``REPLICA_WAIT``."""
    errors: list[Any] = []
    clock = _user().get("CLOCK", DEFAULTS["CLOCK"])
    if clock not in ("store", "app"):
        errors.append(
            Error(
                f"SMSVERIFY['CLOCK'] must be 'store' or 'app'; got {clock!r}.",
                hint="'store' (the default) lets the Redis server's clock decide expiry and "
                "cooldowns; 'app' is for tests that move time.",
                id="smsverify.E017",
            )
        )
    wait = _user().get("REPLICA_WAIT", DEFAULTS["REPLICA_WAIT"])
    if wait is not None:
        ok = isinstance(wait, dict) and not set(wait) - {"REPLICAS", "TIMEOUT_MS"}
        if ok:
            replicas = wait.get("REPLICAS", 1)
            timeout = wait.get("TIMEOUT_MS", 100)
            ok = all(
                isinstance(v, int) and not isinstance(v, bool) for v in (replicas, timeout)
            ) and (1 <= replicas <= 16 and 1 <= timeout <= 10_000)
        if not ok:
            errors.append(
                Error(
                    f"SMSVERIFY['REPLICA_WAIT'] must be None or a dict with REPLICAS "
                    f"(1 to 16) and TIMEOUT_MS (1 to 10000); got {wait!r}.",
                    hint='For example {"REPLICAS": 1, "TIMEOUT_MS": 100}.',
                    id="smsverify.E018",
                )
            )
    return errors


@register(Tags.compatibility)
def check_pumping_guard(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``smsverify.E701``: a bad ``PUMPING_GUARD`` option; ``E702``: an
    unknown one; ``E703``: ``STATS`` is not a bool."""
    errors: list[Any] = []
    stats_value = _user().get("STATS", DEFAULTS["STATS"])
    if not isinstance(stats_value, bool):
        errors.append(
            Error(
                f"SMSVERIFY['STATS'] must be True or False; got {stats_value!r}.",
                id="smsverify.E703",
            )
        )
    raw = _user().get("PUMPING_GUARD", DEFAULTS["PUMPING_GUARD"])
    if isinstance(raw, bool):
        return errors
    if not isinstance(raw, dict):
        errors.append(
            Error(
                f"SMSVERIFY['PUMPING_GUARD'] must be True, False or a dict; got {raw!r}.",
                id="smsverify.E701",
            )
        )
        return errors
    errors += unknown_key_errors(
        raw, DEFAULTS["PUMPING_GUARD"], "SMSVERIFY['PUMPING_GUARD']", "smsverify.E702"
    )
    merged = {**DEFAULTS["PUMPING_GUARD"], **raw}

    def bad(key: str, expected: str) -> None:
        errors.append(
            Error(
                f"SMSVERIFY['PUMPING_GUARD'][{key!r}] must be {expected}; got {merged[key]!r}.",
                hint="See the PUMPING_GUARD setting in the documentation (docs/operations.rst).",
                id="smsverify.E701",
            )
        )

    def whole(value: Any, low: int, high: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

    if not isinstance(merged["ENABLED"], bool):
        bad("ENABLED", "True or False")
    if not whole(merged["PREFIX_DIGITS"], 1, 12):
        bad("PREFIX_DIGITS", "a whole number from 1 to 12")
    for key in ("PREFIX_BURST", "PREFIX_MIN_SENDS", "REGION_MIN_SENDS"):
        if merged[key] is not None and not whole(merged[key], 1, 10**9):
            bad(key, "a positive whole number or None")
    for key, low in (
        ("PREFIX_WINDOW", 10),
        ("PREFIX_COOL_OFF", 1),
        ("CONVERSION_WINDOW", 60),
    ):
        if not whole(merged[key], low, 7 * 86_400):
            bad(key, f"a whole number of seconds from {low} to {7 * 86_400}")
    grace = merged["CONVERSION_GRACE"]
    window = merged["CONVERSION_WINDOW"]
    if not whole(grace, 0, 7 * 86_400) or (whole(window, 60, 7 * 86_400) and grace >= window):
        bad(
            "CONVERSION_GRACE",
            "a whole number of seconds, 0 or more and less than CONVERSION_WINDOW",
        )
    for key in ("PREFIX_MIN_CONVERSION", "REGION_MIN_CONVERSION"):
        value = merged[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            bad(key, "a number from 0 to 1")
    caps = merged["REGION_DAILY_CAPS"]
    if caps is not None and (
        not isinstance(caps, dict)
        or not all(isinstance(k, str) for k in caps)
        or not all(v is None or whole(v, 0, 10**9) for v in caps.values())
    ):
        bad("REGION_DAILY_CAPS", 'None or a dict of region code (or "*") to a whole number or None')
    return errors


def _user() -> dict[str, Any]:
    raw = getattr(settings, "SMSVERIFY", {})
    return raw if isinstance(raw, dict) else {}


def _int_or_none(key: str) -> int | None:
    value = _user().get(key, DEFAULTS[key])
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# Imported last: these modules register their checks and use the helpers above.
from django_smsverify.backends import checks as backend_checks  # noqa: E402, F401 - E1xx
from django_smsverify.backends import routing_checks  # noqa: E402, F401 - E6xx/W601
from django_smsverify.captcha import checks as captcha_checks  # noqa: E402, F401 - E2xx/W2xx
from django_smsverify.contrib.rest_framework import checks as drf_checks  # noqa: E402, F401 - E5xx
