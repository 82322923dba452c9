"""App settings, read lazily from ``settings.SMSVERIFY`` and ``settings.SMS_BACKEND``.

Every key of the ``SMSVERIFY`` dict is declared once, in :data:`DEFAULTS`, and
documented once, on the matching :class:`AppSettings` property. Values are read
on every access (never cached at import time), so ``override_settings`` works
in this app's tests and in users' own tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

DEFAULT_SMS_BACKEND = "django_smsverify.backends.console.SmsBackend"

#: Every key ``SMSVERIFY`` accepts, with its default. A key not listed here is
#: a system-check error (``smsverify.E002``).
DEFAULTS: dict[str, Any] = {
    "CODE_LENGTH": 6,
    "CODE_TTL": 300,
    "RESEND_COOLDOWN": 60,
    "MAX_ATTEMPTS": 5,
    "SEND_LIMITS": {"PHONE_PER_HOUR": 5, "PHONE_PER_DAY": 10, "IP_PER_HOUR": 30},
    "CACHE": "default",
    # None: captcha challenges share CACHE; see AppSettings.CAPTCHA_CACHE.
    "CAPTCHA_CACHE": None,
    # None: hashes are keyed from SECRET_KEY; see AppSettings.HASH_KEY.
    "HASH_KEY": None,
    # Whose clock decides expiry, cooldowns and windows; see AppSettings.CLOCK.
    "CLOCK": "store",
    # Wait for replicas to acknowledge each write; see AppSettings.REPLICA_WAIT.
    "REPLICA_WAIT": None,
    "DEFAULT_REGION": "CN",
    "ALLOWED_REGIONS": None,
    # True/False is short for {"ENABLED": True/False}; see AppSettings.CAPTCHA.
    "CAPTCHA": {
        "ENABLED": True,
        "LENGTH": 4,
        "TTL": 300,
        "WIDTH": 150,
        "HEIGHT": 50,
        "TEST_MODE": False,
        "TEST_ANSWER": "PASSED",
        "CREATE_PER_MINUTE": 30,
        "CREATE_PER_HOUR": 300,
    },
    # Dotted path of the human check before a send; see AppSettings.HUMAN_CHECK.
    "HUMAN_CHECK": "django_smsverify.captcha.ImageCaptcha",
    "DELIVERY": "sync",
    "DELIVERY_RECORDS": True,
    # Days manage.py smsverify_prune keeps; see AppSettings.DELIVERY_RECORDS_RETENTION.
    "DELIVERY_RECORDS_RETENTION": 30,
    # Used when DELIVERY is "celery"; see AppSettings.CELERY.
    "CELERY": {
        "QUEUE": None,
        "PRIORITY": None,
        "MAX_RETRIES": 5,
        "RETRY_BACKOFF": 2,
        "RETRY_BACKOFF_MAX": 60,
        "RETRY_JITTER": True,
    },
    # The optional REST API (django_smsverify.contrib.rest_framework); see AppSettings.DRF.
    "DRF": {
        "TOKEN_HOOK": "django_smsverify.contrib.rest_framework.tokens.session_login",
    },
    "PREVENT_ENUMERATION": True,
    "ADAPTER": "django_smsverify.adapter.DefaultAdapter",
    "USER_PHONE_FIELD": None,
    "USER_PHONE_FORMAT": "e164",
    "LOGIN_CREATES_USER": False,
    "TEST_NUMBERS": {},
    "ALLOW_TEST_NUMBERS": False,
    "FORMS": {},
    "TRUSTED_PROXIES": 0,
    "IPV6_PREFIX": 64,
    "PHONE_STATUS_LIMIT": 20,
    "PASSWORD_LOGIN_LIMITS": {"PHONE_PER_HOUR": 10, "IP_PER_HOUR": 50},
    "PHONE_CHANGE_PROOF": "password",
    # Named provider backends and how the routing backend uses them; see
    # AppSettings.PROVIDERS and AppSettings.ROUTING.
    "PROVIDERS": {},
    "ROUTING": {},
    "RONGLIAN": {},
    "TENCENT": {},
    "TWILIO": {},
    "ALIYUN": {},
    # Traffic counters in the store; see AppSettings.STATS.
    "STATS": True,
    # The SMS-pumping guard; see AppSettings.PUMPING_GUARD.
    "PUMPING_GUARD": {
        "ENABLED": True,
        "PREFIX_DIGITS": 6,
        "PREFIX_BURST": 5,
        "PREFIX_WINDOW": 600,
        "PREFIX_COOL_OFF": 3600,
        "REGION_DAILY_CAPS": None,
        "CONVERSION_WINDOW": 3600,
        "CONVERSION_GRACE": 300,
        "PREFIX_MIN_SENDS": 10,
        "PREFIX_MIN_CONVERSION": 0.2,
        "REGION_MIN_SENDS": 100,
        "REGION_MIN_CONVERSION": 0.1,
    },
}

#: The cap of ``PUMPING_GUARD["REGION_DAILY_CAPS"] = None`` for every region
#: but ``DEFAULT_REGION``.
DEFAULT_FOREIGN_DAILY_CAP = 1000

#: Defaults of the ``ROUTING`` sub-dict (its ``CIRCUIT_BREAKER`` is merged key by key).
ROUTING_DEFAULTS: dict[str, Any] = {
    "ROUTES": {},
    "CIRCUIT_BREAKER": {"FAILURES": 5, "WINDOW": 60, "COOL_OFF": 60},
    "RATE_WAIT": 1.0,
}

#: Keys of one ``PROVIDERS`` entry.
PROVIDER_KEYS = ("BACKEND", "RATE_PER_SECOND")

#: Keys of the ``ROUTING`` sub-dict and of its ``CIRCUIT_BREAKER``.
ROUTING_KEYS = ("ROUTES", "CIRCUIT_BREAKER", "RATE_WAIT")
CIRCUIT_BREAKER_KEYS = ("FAILURES", "WINDOW", "COOL_OFF")

#: Values of ``USER_PHONE_FORMAT``.
USER_PHONE_FORMATS = ("e164", "national")

#: Keys of the ``SEND_LIMITS`` sub-dict.
SEND_LIMIT_KEYS = ("PHONE_PER_HOUR", "PHONE_PER_DAY", "IP_PER_HOUR")

#: Keys of the ``PASSWORD_LOGIN_LIMITS`` sub-dict.
PASSWORD_LOGIN_LIMIT_KEYS = ("PHONE_PER_HOUR", "IP_PER_HOUR")

PURPOSES = ("register", "login", "reset_password", "change_phone")

#: Values of ``PHONE_CHANGE_PROOF``.
PHONE_CHANGE_PROOFS = ("password", "password_and_code")


@dataclass(frozen=True)
class CaptchaSettings:
    """The merged ``SMSVERIFY["CAPTCHA"]`` options (see :attr:`AppSettings.CAPTCHA`).

    Values are as the site wrote them; the system checks validate them.
    """

    ENABLED: bool
    LENGTH: int
    TTL: int
    WIDTH: int
    HEIGHT: int
    TEST_MODE: bool
    TEST_ANSWER: str
    CREATE_PER_MINUTE: int | None
    CREATE_PER_HOUR: int | None

    def __bool__(self) -> bool:
        return bool(self.ENABLED)


@dataclass(frozen=True)
class GuardSettings:
    """The merged ``SMSVERIFY["PUMPING_GUARD"]`` options (see
    :attr:`AppSettings.PUMPING_GUARD`).

    Values are as the site wrote them; the system checks validate them
    (``smsverify.E701``).
    """

    ENABLED: bool
    PREFIX_DIGITS: int
    PREFIX_BURST: int | None
    PREFIX_WINDOW: int
    PREFIX_COOL_OFF: int
    REGION_DAILY_CAPS: dict[str, int | None] | None
    CONVERSION_WINDOW: int
    CONVERSION_GRACE: int
    PREFIX_MIN_SENDS: int | None
    PREFIX_MIN_CONVERSION: float
    REGION_MIN_SENDS: int | None
    REGION_MIN_CONVERSION: float

    def __bool__(self) -> bool:
        return bool(self.ENABLED)

    def region_cap(self, region: str, default_region: str, *, all_allowed: bool = True) -> int:
        """Sends allowed per UTC day to numbers of ``region``; 0 is no cap.

        ``all_allowed`` says that ``ALLOWED_REGIONS`` is ``"__all__"``: only
        then does the default (``REGION_DAILY_CAPS = None``) cap anything,
        since regions a site names one by one are regions it chose.
        """
        caps = self.REGION_DAILY_CAPS
        if caps is None:
            if region == default_region or not all_allowed:
                return 0
            return DEFAULT_FOREIGN_DAILY_CAP
        cap = caps.get(region, caps.get("*"))
        return int(cap or 0)


@dataclass(frozen=True)
class CelerySettings:
    """The merged ``SMSVERIFY["CELERY"]`` options (see :attr:`AppSettings.CELERY`).

    Values are as the site wrote them; the system checks validate them
    (``smsverify.E401``).
    """

    QUEUE: str | None
    PRIORITY: int | None
    MAX_RETRIES: int
    RETRY_BACKOFF: float
    RETRY_BACKOFF_MAX: float
    RETRY_JITTER: bool


@dataclass(frozen=True)
class DrfSettings:
    """The merged ``SMSVERIFY["DRF"]`` options (see :attr:`AppSettings.DRF`).

    Values are as the site wrote them; the system checks validate them
    (``smsverify.E501``, ``smsverify.E502``).
    """

    TOKEN_HOOK: str


class AppSettings:
    """Typed, documented access to the app's settings. Use :data:`app_settings`."""

    def _user(self) -> dict[str, Any]:
        value = getattr(settings, "SMSVERIFY", None)
        return value if isinstance(value, dict) else {}

    def _get(self, key: str) -> Any:
        return self._user().get(key, DEFAULTS[key])

    def user_keys(self) -> list[str]:
        """The keys the site put in ``SMSVERIFY`` (for the unknown-key check)."""
        return list(self._user())

    @property
    def SMS_BACKEND(self) -> str:
        """Dotted path of the SMS backend class (``settings.SMS_BACKEND``, not in ``SMSVERIFY``).

        Default: ``"django_smsverify.backends.console.SmsBackend"``, which prints
        each message to standard output.
        """
        return getattr(settings, "SMS_BACKEND", None) or DEFAULT_SMS_BACKEND

    @property
    def CODE_LENGTH(self) -> int:
        """Number of digits in a verification code. Default ``6``."""
        return int(self._get("CODE_LENGTH"))

    @property
    def CODE_TTL(self) -> int:
        """Seconds a code stays valid after it is sent. Default ``300``.

        Also the window of the wrong-guess counter (see :attr:`MAX_ATTEMPTS`).
        Over 600 seconds is a warning (``smsverify.W003``).
        """
        return int(self._get("CODE_TTL"))

    @property
    def RESEND_COOLDOWN(self) -> int:
        """Seconds before another code may be sent to the same number for the same
        purpose. Default ``60``."""
        return int(self._get("RESEND_COOLDOWN"))

    @property
    def MAX_ATTEMPTS(self) -> int:
        """Wrong guesses allowed per number and purpose. Default ``5``.

        The count survives a resend; after the last wrong guess the code is
        deleted and both checks and sends for that number and purpose are
        refused until the window (:attr:`CODE_TTL` from the first wrong guess)
        ends.
        """
        return int(self._get("MAX_ATTEMPTS"))

    @property
    def SEND_LIMITS(self) -> dict[str, int | None]:
        """Send quotas: ``PHONE_PER_HOUR`` (default 5), ``PHONE_PER_DAY`` (10) and
        ``IP_PER_HOUR`` (30). Each window starts at its first send. ``None``
        turns one quota off. Keys left out keep their default."""
        merged = dict(DEFAULTS["SEND_LIMITS"])
        merged.update(self._get("SEND_LIMITS") or {})
        return merged

    @property
    def CACHE(self) -> str:
        """Alias in ``CACHES`` that holds all verification state. Default ``"default"``.

        A Redis or Valkey cache (django-redis, Django's ``RedisCache`` or
        django-valkey) gets the atomic, one-round-trip store; any other cache
        gets a store that is correct within one process only (``smsverify.W015``).
        """
        return str(self._get("CACHE"))

    @property
    def CAPTCHA_CACHE(self) -> str:
        """Alias in ``CACHES`` that holds captcha challenges. Default ``None``:
        the :attr:`CACHE` alias.

        Anyone can create challenges, many of them. Give them an alias of
        their own, on a Redis that may evict (``allkeys-lru``), so that a
        flood of them can neither fill the Redis that holds codes, cooldowns
        and quotas (which runs ``noeviction``, and would answer 503 when full)
        nor, on an evicting one, push those out. See ``docs/deployment.rst``.
        A name not in ``CACHES`` is a system-check error (``smsverify.E007``).
        """
        value = self._get("CAPTCHA_CACHE")
        return str(value) if value else self.CACHE

    @property
    def HASH_KEY(self) -> tuple[str, ...] | None:
        """The secret the app's keyed hashes derive from, as a tuple of the
        current key and its fallbacks; ``None`` (the default) when they derive
        from ``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``.

        Those hashes name every number's keys in the store and are all that
        is stored of a code or a captcha answer. Set ``HASH_KEY`` to a string
        (say, from :func:`django.core.management.utils.get_random_secret_key`)
        to keep verification state through a ``SECRET_KEY`` rotation, or to
        a list ``[current, *fallbacks]`` to rotate it: the first key writes,
        the others are only read, so that codes, cooldowns, lock-outs and
        captchas from before the rotation still hold (see
        ``docs/security.rst``, *Rotating keys*). With ``HASH_KEY`` set,
        ``SECRET_KEY`` and its fallbacks play no part in these hashes.
        Anything but a non-empty string or a non-empty list of them is a
        system-check error (``smsverify.E016``).
        """
        value = self._get("HASH_KEY")
        if value is None:
            return None
        problem = hash_key_problem(value)
        if problem:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(f"SMSVERIFY['HASH_KEY'] {problem}.")
        return (value,) if isinstance(value, str) else tuple(value)

    @property
    def CLOCK(self) -> str:
        """Whose clock decides when a code expires, a cooldown ends and a
        quota's window closes: ``"store"`` (the default) or ``"app"``.

        With ``"store"`` the Redis store reads the server's clock (``TIME``)
        inside each script, so every app server agrees: one whose clock runs
        90 seconds fast can neither resend inside a cooldown nor let a code
        live shorter. ``"app"`` uses each app process's clock, as a test that
        moves time (``time_machine``, ``freezegun``) against a Redis store
        needs; the generic store (LocMem and other caches) always uses the
        process's clock. The pumping guard's time buckets and the traffic
        counters' hours and days are named by the app's clock either way.
        Anything else is a system-check error (``smsverify.E017``).
        """
        return str(self._get("CLOCK"))

    @property
    def REPLICA_WAIT(self) -> dict[str, int] | None:
        """Wait for Redis replicas to acknowledge each write of the store.
        Default ``None``: replication is asynchronous, as Redis's is.

        ``{"REPLICAS": 1, "TIMEOUT_MS": 100}`` sends ``WAIT 1 100`` after each
        step that writes, in the same round trip; a step that fewer replicas
        acknowledged in time answers 503 (``ServiceUnavailable``): a send
        then sends nothing and a code does not pass. So a failover to a
        replica (Sentinel promoting it) never loses a code, cooldown or count
        that a user was told about, at the cost of the replica's round trip
        on every step (measured in ``docs/deployment.rst``), and of 503s
        while no replica answers. Not on Redis Cluster (its replicas ack per
        shard; use ``min-replicas-to-write`` there). Invalid values are a
        system-check error (``smsverify.E018``).
        """
        value = self._get("REPLICA_WAIT")
        if not isinstance(value, dict):
            return None
        return {
            "REPLICAS": int(value.get("REPLICAS", 1)),
            "TIMEOUT_MS": int(value.get("TIMEOUT_MS", 100)),
        }

    @property
    def DEFAULT_REGION(self) -> str:
        """ISO 3166 region used to read numbers written without ``+``. Default ``"CN"``."""
        return str(self._get("DEFAULT_REGION")).upper()

    @property
    def ALLOWED_REGIONS(self) -> frozenset[str] | None:
        """Regions whose mobile numbers are accepted. Default ``None``: only
        :attr:`DEFAULT_REGION`. A list of region codes allows those; ``"__all__"``
        allows every region (think of SMS pumping first). Returns ``None`` for
        "every region"."""
        value = self._get("ALLOWED_REGIONS")
        if value == "__all__":
            return None
        if value is None:
            return frozenset({self.DEFAULT_REGION})
        return frozenset(str(region).upper() for region in value)

    @property
    def CAPTCHA(self) -> CaptchaSettings:
        """The image captcha solved before any code is sent. On by default.

        ``True`` or ``False`` turns it on or off with the other options at their
        defaults; a dict sets options, and keys left out keep their default:

        - ``ENABLED`` (``True``): ask for a captcha before sending a code.
          Turning it off with ``DEBUG = False`` is a warning (``smsverify.W201``).
        - ``LENGTH`` (``4``): characters per challenge, from 3 to 8. The
          characters leave out look-alikes (no 0/O, no 1/I/l); answers are
          case-insensitive and spaces in them are ignored.
        - ``TTL`` (``300``): seconds a challenge stays usable, from 10 to 3600.
          Each challenge also works once only, right or wrong.
        - ``WIDTH``, ``HEIGHT`` (``150``, ``50``): image size in CSS pixels
          (the ``?scale=2`` image for high-DPI screens is twice that).
        - ``TEST_MODE`` (``False``): for your own test suite. When ``True``,
          ``TEST_ANSWER`` is accepted with any key (real answers still work).
          With ``DEBUG = False`` it is a system-check error (``smsverify.E201``);
          switch it on with ``override_settings`` inside tests, or silence
          ``smsverify.E201`` in a settings module used only for tests.
        - ``TEST_ANSWER`` (``"PASSED"``): the answer test mode accepts.
        - ``CREATE_PER_MINUTE``, ``CREATE_PER_HOUR`` (``30``, ``300``): new
          challenges per client (IP, IPv6 by ``IPV6_PREFIX``) per minute and
          per hour, counted by the ``captcha`` endpoint and by every page that
          shows one. Past a limit the endpoint answers 429 with
          ``Retry-After`` and pages show the message instead of an image.
          ``None`` turns one off.

        Invalid options are system-check errors (``smsverify.E202``,
        ``smsverify.E203``). The returned object is false when the captcha is off,
        so ``if app_settings.CAPTCHA:`` works.
        """
        value = self._get("CAPTCHA")
        merged = dict(DEFAULTS["CAPTCHA"])
        if isinstance(value, dict):
            merged.update({k: v for k, v in value.items() if k in merged})
        else:
            merged["ENABLED"] = bool(value)
        return CaptchaSettings(**merged)

    @property
    def HUMAN_CHECK(self) -> str:
        """Dotted path of the :class:`~django_smsverify.captcha.HumanCheck`
        subclass that the send-code form and endpoint use to tell a person
        from a script. Default ``"django_smsverify.captcha.ImageCaptcha"``,
        the image captcha; a site can plug in a slider service instead.
        ``CAPTCHA`` (``ENABLED``) still turns the check on or off."""
        return str(self._get("HUMAN_CHECK"))

    @property
    def DELIVERY(self) -> str:
        """``"sync"`` (send inside the request, default) or ``"celery"`` (queue a task).

        With ``"celery"`` the request only queues the task
        ``django_smsverify.deliver_sms`` (after the database transaction
        commits) and answers at once; a Celery worker calls the SMS backend.
        It needs ``pip install "django-smsverify[celery]"`` (``smsverify.E402``)
        and a cache shared with the workers (``smsverify.W401``). See
        :attr:`CELERY` and ``docs/celery.rst``.
        """
        return str(self._get("DELIVERY"))

    @property
    def DELIVERY_RECORDS(self) -> bool:
        """Whether each SMS dispatch writes an ``SmsDelivery`` row (default ``True``).

        The rows are the history the admin shows: who was sent what kind of
        message, through which backend, and how it went (never the code).
        ``False`` keeps the database out of sending entirely: with
        ``"sync"`` delivery that saves one committed ``INSERT`` per SMS, the
        largest single cost of a send-code request (see ``docs/benchmarks.rst``).
        Logging and the :data:`~django_smsverify.signals.code_sent` signal
        still report every send; with ``"celery"`` the queued, retrying and
        failed states are then visible only in the worker's log.
        """
        return bool(self._get("DELIVERY_RECORDS"))

    @property
    def DELIVERY_RECORDS_RETENTION(self) -> int | None:
        """Days ``manage.py smsverify_prune`` keeps ``SmsDelivery`` rows for
        when run without ``--older-than``. Default ``30``.

        The rows hold the numbers that asked for a code, users or not; the app
        itself never deletes any. Run the command daily (cron, Celery beat) to
        delete the rows created before that many days ago, whatever their
        status. ``None``: the command deletes nothing unless given
        ``--older-than``. The value is as the site wrote it; anything but a
        whole number from 1 to 36500 or ``None`` is a system-check error
        (``smsverify.E015``). See ``docs/security.rst``.
        """
        value: int | None = self._get("DELIVERY_RECORDS_RETENTION")
        return value

    @property
    def CELERY(self) -> CelerySettings:
        """Options of the delivery task, used when :attr:`DELIVERY` is ``"celery"``.

        A dict; keys left out keep their default:

        - ``QUEUE`` (``None``): the queue the task is sent to. ``None`` leaves
          the choice to the site's Celery routing (``task_routes``, else the
          default queue). Workers must consume it (``celery worker -Q ...``).
        - ``PRIORITY`` (``None``): message priority, 0 to 255, for brokers that
          support it; ``None`` keeps the broker's default.
        - ``MAX_RETRIES`` (``5``): how many times a send that failed with a
          transient provider error (timeout, HTTP 5xx, provider rate limit) is
          tried again. Permanent errors are never retried, and no try starts
          after the code has expired.
        - ``RETRY_BACKOFF`` (``2``): seconds before the first retry; each next
          retry waits twice as long as the one before.
        - ``RETRY_BACKOFF_MAX`` (``60``): the longest wait between two tries.
        - ``RETRY_JITTER`` (``True``): wait a random time between half and all
          of the computed delay, so a provider outage does not end in a burst
          of retries all at the same second.

        Invalid options are a system-check error (``smsverify.E401``).
        """
        value = self._get("CELERY")
        merged = dict(DEFAULTS["CELERY"])
        if isinstance(value, dict):
            merged.update({k: v for k, v in value.items() if k in merged})
        return CelerySettings(**merged)

    @property
    def DRF(self) -> DrfSettings:
        """Options of the REST API, ``django_smsverify.contrib.rest_framework``
        (``pip install "django-smsverify[drf]"``). A dict; keys left out keep
        their default:

        - ``TOKEN_HOOK`` (``"django_smsverify.contrib.rest_framework.tokens.session_login"``):
          dotted path of a callable ``hook(request, user) -> dict`` run after
          a user registers or logs in through the API. Its dict is merged into
          the answer next to ``user_id`` and must hold ``"token"``. The default
          logs the user in with a Django session and answers
          ``"token": None`` (the API then checks CSRF on those endpoints, like
          Django's login view). ``...tokens.simplejwt_tokens`` answers
          djangorestframework-simplejwt ``access``/``refresh`` tokens instead.

        Invalid options are system-check errors (``smsverify.E501``,
        ``smsverify.E502``). See ``docs/api.rst``.
        """
        value = self._get("DRF")
        merged = dict(DEFAULTS["DRF"])
        if isinstance(value, dict):
            merged.update({k: v for k, v in value.items() if k in merged})
        return DrfSettings(**merged)

    @property
    def PREVENT_ENUMERATION(self) -> bool:
        """Answer identically whether or not a number is registered. Default ``True``."""
        return bool(self._get("PREVENT_ENUMERATION"))

    @property
    def ADAPTER(self) -> str:
        """Dotted path of the adapter class that creates users and words messages.
        Default ``"django_smsverify.adapter.DefaultAdapter"``."""
        return str(self._get("ADAPTER"))

    @property
    def USER_PHONE_FIELD(self) -> str | None:
        """Name of a field on the user model that holds each user's number, or
        ``None`` (default) for the app's own ``PhoneNumber`` table.

        For sites that already keep numbers on the user, such as the tutorial
        model's ``mobile = models.CharField(max_length=11, unique=True)``: the
        app then reads and writes that field (in :attr:`USER_PHONE_FORMAT`),
        matches numbers typed in any spelling against it, fills it when it
        creates a user, and never touches ``PhoneNumber`` (whose admin page is
        hidden). The field should be unique; a field that is missing, not a
        text field, or too short for the format is a system-check error
        (``smsverify.E009``). See ``docs/adopting.rst``.
        """
        value = self._get("USER_PHONE_FIELD")
        return str(value) if value else None

    @property
    def USER_PHONE_FORMAT(self) -> str:
        """How :attr:`USER_PHONE_FIELD` stores a number: ``"e164"`` (default,
        ``+8613800138000``) or ``"national"``: the national digits
        (``13800138000``) for numbers of :attr:`DEFAULT_REGION`, E.164 for any
        other region. Look-ups match either spelling whatever this says, so
        rows written before the switch keep working."""
        return str(self._get("USER_PHONE_FORMAT")).lower()

    @property
    def LOGIN_CREATES_USER(self) -> bool:
        """One-step SMS login (验证码登录，未注册自动注册). Default ``False``.

        When ``True``, SMS login with a number that no account uses creates
        the account on the spot (a user with an unusable password, through the
        adapter's :meth:`~django_smsverify.adapter.DefaultAdapter.register`,
        sending ``user_registered``), on the page and in the REST API. Sending
        a login code then never depends on whether the number is registered,
        so the answers reveal nothing either way.
        """
        return bool(self._get("LOGIN_CREATES_USER"))

    @property
    def TEST_NUMBERS(self) -> dict[str, str]:
        """``{phone: fixed code}`` for app-store review and demos. Default ``{}``.

        No SMS is sent to these numbers and the fixed code always passes (limits
        still apply). With ``DEBUG = False`` this is a system-check error unless
        :attr:`ALLOW_TEST_NUMBERS` is set.
        """
        return dict(self._get("TEST_NUMBERS") or {})

    @property
    def ALLOW_TEST_NUMBERS(self) -> bool:
        """Allow :attr:`TEST_NUMBERS` when ``DEBUG`` is False. Default ``False``."""
        return bool(self._get("ALLOW_TEST_NUMBERS"))

    @property
    def FORMS(self) -> dict[str, str]:
        """Dotted paths of form classes that replace the built-in ones, by name:
        ``send_code``, ``register``, ``login``, ``password_login``,
        ``password_reset``, ``phone_change``. Default ``{}``."""
        return dict(self._get("FORMS") or {})

    @property
    def TRUSTED_PROXIES(self) -> int:
        """How many reverse proxies in front of the site append to
        ``X-Forwarded-For``. Default ``0``: the client IP is ``REMOTE_ADDR`` and
        the header is ignored (anyone can forge it)."""
        return int(self._get("TRUSTED_PROXIES") or 0)

    @property
    def IPV6_PREFIX(self) -> int:
        """How many leading bits of an IPv6 address make one client for every
        per-IP limit (``SEND_LIMITS["IP_PER_HOUR"]``,
        ``PASSWORD_LOGIN_LIMITS["IP_PER_HOUR"]``, ``PHONE_STATUS_LIMIT``).
        Default ``64``: a single subscriber gets at least a /64 and may use
        any address in it. IPv4 addresses always count one by one. From 32 to
        128 (``smsverify.E006``)."""
        return int(self._get("IPV6_PREFIX"))

    @property
    def PHONE_STATUS_LIMIT(self) -> int:
        """Look-ups per client IP per hour on ``phone_status`` when
        :attr:`PREVENT_ENUMERATION` is off. Default ``20``."""
        return int(self._get("PHONE_STATUS_LIMIT") or 0)

    @property
    def PASSWORD_LOGIN_LIMITS(self) -> dict[str, int | None]:
        """Failed password logins (``login/?method=password`` and the REST
        API's ``login/password/``) allowed per hour: ``PHONE_PER_HOUR`` per
        number (default 10) and ``IP_PER_HOUR`` per client IP (50). Past
        either, password logins answer 429 with ``Retry-After`` until the
        window ends, even with the right password; SMS login still works. Each
        attempt is counted before the password is checked and given back when
        it succeeds, so concurrent guesses cannot exceed a limit. ``None``
        turns one limit off. Keys left out keep their default."""
        merged = dict(DEFAULTS["PASSWORD_LOGIN_LIMITS"])
        merged.update(self._get("PASSWORD_LOGIN_LIMITS") or {})
        return merged

    @property
    def PHONE_CHANGE_PROOF(self) -> str:
        """What a logged-in user proves, besides holding the session, to move
        the account to a new number (which they prove with a code sent to it).
        Default ``"password"``.

        - ``"password"``: the current password. An account without a usable
          password (one-step SMS login) proves with a code sent to its
          current number instead.
        - ``"password_and_code"``: the current password and a code sent to the
          current number (each only where the account has one).

        An account with neither a usable password nor a number has nothing
        more to prove than its session. Whatever the proof, the change ends
        every other session and every token the app issued for the user.
        Other values are a system-check error (``smsverify.E006``).
        """
        return str(self._get("PHONE_CHANGE_PROOF"))

    @property
    def RONGLIAN(self) -> dict[str, Any]:
        """Settings of the Ronglian (容联云) backend. Default ``{}``."""
        return dict(self._get("RONGLIAN") or {})

    @property
    def TENCENT(self) -> dict[str, Any]:
        """Settings of the Tencent Cloud SMS backend. Default ``{}``."""
        return dict(self._get("TENCENT") or {})

    @property
    def ALIYUN(self) -> dict[str, Any]:
        """Settings of the Aliyun SMS (阿里云短信服务) backend (``ACCESS_KEY_ID``,
        ``ACCESS_KEY_SECRET``, ``SIGN_NAME``, ``TEMPLATE_ID``, ``TEMPLATE_PARAMS``,
        ``NOTICE_TEMPLATE_ID``, ``ENDPOINT``, ``REGION_ID``, ``TIMEOUT``).
        Default ``{}``. See ``docs/backends/aliyun.rst``."""
        return dict(self._get("ALIYUN") or {})

    @property
    def TWILIO(self) -> dict[str, Any]:
        """Settings of the Twilio backend (``ACCOUNT_SID``, ``AUTH_TOKEN``,
        ``FROM`` or ``MESSAGING_SERVICE_SID``, ``TIMEOUT``; ``BASE_URL`` for
        tests). Default ``{}``. See ``docs/backends/twilio.rst``."""
        return dict(self._get("TWILIO") or {})

    @property
    def PROVIDERS(self) -> dict[str, dict[str, Any]]:
        """Named SMS providers for the routing backend
        (``django_smsverify.backends.routing.SmsBackend``). Default ``{}``.

        Maps a name of the site's choosing (used in ``ROUTING["ROUTES"]``, in
        delivery records and in the circuit breaker's state) to a dict:

        - ``BACKEND`` (required): the dotted path of the backend class, e.g.
          ``"django_smsverify.backends.tencent.SmsBackend"``. It reads its own
          settings block (``SMSVERIFY["TENCENT"]``...) as usual.
        - ``RATE_PER_SECOND`` (``None``): at most this many messages per second
          to this provider, counted across every process in the cache
          ``CACHE`` names. A send over the rate waits for a free slot (up to
          ``ROUTING["RATE_WAIT"]`` seconds), then fails over to the next
          provider. ``None``: no limit.

        Problems are system-check errors (``smsverify.E602``, ``E603``, ``E605``).
        """
        value = self._get("PROVIDERS")
        if not isinstance(value, dict):
            return {}
        return {str(k): dict(v) for k, v in value.items() if isinstance(v, dict)}

    @property
    def ROUTING(self) -> dict[str, Any]:
        """Options of the routing backend. A dict; keys left out keep their default:

        - ``ROUTES`` (``{}``): maps a region to the ordered list of ``PROVIDERS``
          names to try for numbers from it. A key is an ISO region code
          (``"CN"``), a country calling code (``"+1"``) or ``"default"`` (every
          other number). The first provider that accepts the message sends it;
          the next one is tried only after a transient or unknown-outcome
          failure. A one-name list is plain routing.
        - ``CIRCUIT_BREAKER`` (``{"FAILURES": 5, "WINDOW": 60, "COOL_OFF": 60}``):
          after ``FAILURES`` transient failures of one provider within
          ``WINDOW`` seconds, it is skipped for ``COOL_OFF`` seconds, then one
          trial send decides whether it is back. ``None`` turns it off.
        - ``RATE_WAIT`` (``1.0``): the longest a send waits for a slot under a
          provider's ``RATE_PER_SECOND``, in seconds.

        Problems are system-check errors (``smsverify.E601``, ``E604``, ``E606``).
        """
        value = self._get("ROUTING")
        breaker_defaults = dict(ROUTING_DEFAULTS["CIRCUIT_BREAKER"])
        merged: dict[str, Any] = {**ROUTING_DEFAULTS, "CIRCUIT_BREAKER": breaker_defaults}
        if not isinstance(value, dict):
            return merged
        for key in ("ROUTES", "RATE_WAIT"):
            if key in value:
                merged[key] = value[key]
        breaker = value.get("CIRCUIT_BREAKER", breaker_defaults)
        if isinstance(breaker, dict):
            merged["CIRCUIT_BREAKER"] = {**breaker_defaults, **breaker}
        else:
            merged["CIRCUIT_BREAKER"] = breaker
        return merged

    @property
    def STATS(self) -> bool:
        """Count SMS traffic in the store (``CACHE``). Default ``True``.

        Per UTC hour and day, by purpose and region: codes sent, notices sent,
        codes verified, sends refused (by which limit) and sends that failed
        (by provider and error code). Hours are kept 49 hours and days 31
        days, by the store's own expiry. A send costs no extra round trip for
        them (they are counted in the pumping guard's step, or in one of their
        own when the guard is off); a successful check costs one. The figures
        are in the admin (*SMS traffic*), ``manage.py smsverify_stats`` and,
        with the ``prometheus`` extra, a Prometheus collector.
        """
        return bool(self._get("STATS"))

    @property
    def PUMPING_GUARD(self) -> GuardSettings:
        """The guard against SMS pumping (toll fraud): bots asking for codes to
        ranges of numbers and never using them. On by default. ``True`` or
        ``False`` turns it on or off with the other options at their defaults;
        a dict sets options, and keys left out keep their default:

        - ``ENABLED`` (``True``).
        - ``PREFIX_DIGITS`` (``6``): a number's *prefix* is its country code
          and this many digits of the national number after it
          (``+86 138001``: a block of 100,000 Chinese mobile numbers;
          ``+1 415555``: one US exchange of 10,000).
        - ``PREFIX_BURST`` (``5``) and ``PREFIX_WINDOW`` (``600``): more than
          ``PREFIX_BURST`` codes to one prefix within ``PREFIX_WINDOW``
          seconds (a sliding window) blocks the prefix for
          ``PREFIX_COOL_OFF`` (``3600``) seconds, twice as long for each
          further burst within a day of the last block (at most a day).
          ``None`` turns it off.
        - ``REGION_DAILY_CAPS`` (``None``): sends per UTC day to the numbers
          of one region, as ``{"CN": None, "US": 200, "*": 1000}`` (``"*"``
          is every region not named; ``None`` or ``0``: no cap). The default,
          ``None``, caps every region but ``DEFAULT_REGION`` at 1,000 a day
          when ``ALLOWED_REGIONS`` is ``"__all__"``, and nothing when the
          site names its regions (it chose them).
          ``ALLOWED_REGIONS`` stays the hard gate.
        - ``CONVERSION_WINDOW`` (``3600``), ``CONVERSION_GRACE`` (``300``):
          conversion is codes verified ÷ codes sent in the last
          ``CONVERSION_WINDOW`` seconds, leaving out sends younger than
          ``CONVERSION_GRACE`` (their users are still typing).
        - ``PREFIX_MIN_SENDS`` (``10``), ``PREFIX_MIN_CONVERSION`` (``0.2``):
          once a prefix has at least that many sends in the window and its
          conversion is below that, new sends to it are refused until it
          recovers. ``REGION_MIN_SENDS`` (``100``) and
          ``REGION_MIN_CONVERSION`` (``0.1``) do the same for a whole region.
          A ``MIN_SENDS`` of ``None`` turns that rule off.

        A refused send answers like any other limit (``RateLimited``, HTTP 429
        with ``Retry-After``) without saying which rule refused it; the
        :data:`~django_smsverify.signals.pumping_suspected` signal and a
        warning on the ``django_smsverify.guard`` logger say which. Test
        numbers (``TEST_NUMBERS``) are never guarded. Invalid options are a
        system-check error (``smsverify.E701``).
        """
        value = self._get("PUMPING_GUARD")
        merged = dict(DEFAULTS["PUMPING_GUARD"])
        if isinstance(value, dict):
            merged.update({k: v for k, v in value.items() if k in merged})
        else:
            merged["ENABLED"] = bool(value)
        return GuardSettings(**merged)


def hash_key_problem(value: Any) -> str:
    """What is wrong with ``value`` as ``SMSVERIFY["HASH_KEY"]`` (the end of a
    sentence that starts with the setting's name), or ``""`` when nothing is."""
    if value is None:
        return ""
    keys = [value] if isinstance(value, str) else value
    if not isinstance(keys, (list, tuple)):
        return f"must be a string or a list of strings, not {type(value).__name__}"
    if not keys:
        return "must not be an empty list"
    for key in keys:
        if not isinstance(key, str):
            return f"must hold only strings, not {type(key).__name__}"
        if not key:
            return "must not be or hold an empty string"
    return ""


#: The app's settings. Read attributes at call time, never at import time.
app_settings = AppSettings()
