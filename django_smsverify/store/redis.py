"""The Redis store: each step is one Lua script call (one network round trip).

Redis runs a script without interleaving other commands, so check-then-set
races (two sends both seeing "no cooldown", two checks both seeing the code)
cannot happen, whether the callers are threads, processes or machines.

Values carry their own expiry in the app's clock (``<data>:<expires_ms>``) and
each key also gets a Redis TTL, so expiry is decided the same way on every
store and no key outlives its use.

Out of memory
-------------
A Redis at ``maxmemory`` under ``noeviction`` refuses writes but still runs
reads and ``DEL``. A step must then fail as a whole, never half-run: a check
that could not count a wrong guess must not answer either, or wrong guesses
would be refused uncounted while the right one still passes. So:

- On Redis 7 and Valkey each script starts with a ``#!lua`` shebang that
  declares it a writer (only read-only scripts say ``flags=no-writes``), and
  the server refuses a writer before it runs while memory is full.
- Redis 6 does not know shebangs (it fails to compile one); there the same
  scripts run without it, and a write is refused only when the script gets to
  it. Each script therefore makes its first write before it decides anything
  in the caller's favour: the check counts the guess first and takes the count
  back when the code was right. Once a script has written, Redis lets it
  finish its writes, so no script stops half-way.

Which form a server takes is learnt once per connection pool and learnt again
whenever a script is not loaded (a restart or a failover to another server).
Refused steps raise :class:`~django_smsverify.exceptions.ServiceUnavailable`
(HTTP 503).
"""

from __future__ import annotations

import hashlib
import logging
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from django_smsverify.exceptions import RateLimited, ServiceUnavailable
from django_smsverify.store.base import (
    DAY_MS,
    HOUR_MS,
    LOCKED,
    CheckResult,
    GuardStep,
    Increment,
    Keys,
    Limit,
    SendPolicy,
    VerificationStore,
)

logger = logging.getLogger("django_smsverify.store")

# Shared Lua helpers. read(key) returns count, expiry of a "n:exp" value that
# has not expired yet, or 0, 0. ttl(exp) is a PX value that is never < 1.
_LUA_HELPERS = """
local now = tonumber(ARGV[1])
local function read(key)
  local v = redis.call('GET', key)
  if not v then return 0, 0 end
  local n, e = string.match(v, '^(%d+):(%d+)$')
  n = tonumber(n)
  e = tonumber(e)
  if not n or e <= now then return 0, 0 end
  return n, e
end
local function ttl(exp)
  local ms = exp - now
  if ms < 1 then ms = 1 end
  return ms
end
local function put(key, n, e)
  redis.call('SET', key, string.format('%d:%d', n, e), 'PX', ttl(e))
end
"""

# KEYS: code, cooldown, attempts, phone_hour, phone_day[, ip_hour]
# ARGV: now, code_hash, code_ttl, cooldown, per_hour, per_day, ip_per_hour, max_attempts
SEND_SCRIPT = (
    _LUA_HELPERS
    + """
local code_ttl = tonumber(ARGV[3])
local cooldown = tonumber(ARGV[4])
local limits = {0, 0, 0, tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])}
local windows = {0, 0, 0, %(hour)d, %(day)d, %(hour)d}
local scopes = {'', '', '', 'phone_hour', 'phone_day', 'ip_hour'}
local max_attempts = tonumber(ARGV[8])
local wait, scope = 0, ''
local function block(ms, s)
  if ms > wait then wait, scope = ms, s end
end
local cd_n, cd_e = read(KEYS[2])
if cd_e > 0 then block(cd_e - now, 'cooldown') end
local att_n, att_e = read(KEYS[3])
if max_attempts > 0 and att_n >= max_attempts then block(att_e - now, 'attempts') end
local counts = {}
for i = 4, #KEYS do
  local n, e = read(KEYS[i])
  counts[i] = {n, e}
  if limits[i] > 0 and n >= limits[i] then block(e - now, scopes[i]) end
end
if wait > 0 then return {0, scope, wait} end
local code_exp = now + code_ttl
redis.call('SET', KEYS[1], ARGV[2] .. ':' .. string.format('%%d', code_exp), 'PX', code_ttl)
if cooldown > 0 then put(KEYS[2], 1, now + cooldown) end
-- Wrong guesses keep counting for as long as any code they could be aimed at lives.
if att_n > 0 and att_e < code_exp then put(KEYS[3], att_n, code_exp) end
for i = 4, #KEYS do
  local n, e = counts[i][1], counts[i][2]
  if n == 0 then e = now + windows[i] end
  put(KEYS[i], n + 1, e)
end
return {1, '', 0}
"""
    % {"hour": HOUR_MS, "day": DAY_MS}
)

# KEYS: code, cooldown, phone_hour, phone_day[, ip_hour]
# ARGV: now, code_hash, keep_cooldown ('1' or '0')
RELEASE_SCRIPT = (
    _LUA_HELPERS
    + """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[2] + 1) == ARGV[2] .. ':' then redis.call('DEL', KEYS[1]) end
if ARGV[3] ~= '1' then redis.call('DEL', KEYS[2]) end
for i = 3, #KEYS do
  local n, e = read(KEYS[i])
  if n > 1 then put(KEYS[i], n - 1, e) elseif n == 1 then redis.call('DEL', KEYS[i]) end
end
return 1
"""
)

# KEYS: code, attempts    ARGV: now, code_hash, max_attempts
# The comparison is a plain string equality in Lua, which is not constant-time.
# That is safe here: both sides are HMACs under a key only the server knows, so
# how long the comparison takes reveals nothing an attacker can steer.
# The guess is counted before it is compared, and the count taken back when it
# was right: out of memory, that first write is what the server refuses (see
# the module's docstring), so a check never answers for a guess it could not count.
CHECK_SCRIPT = (
    _LUA_HELPERS
    + """
local max_attempts = tonumber(ARGV[3])
local att_n, att_e = read(KEYS[2])
if max_attempts > 0 and att_n >= max_attempts then
  redis.call('DEL', KEYS[1])
  return {'locked', 0, att_e - now}
end
local v = redis.call('GET', KEYS[1])
local h, e = nil, 0
if v then
  h, e = string.match(v, '^(%x+):(%d+)$')
  e = tonumber(e)
end
if not h or e <= now then return {'expired', max_attempts - att_n, 0} end
local counted_e = att_e
if att_n == 0 then counted_e = e end
put(KEYS[2], att_n + 1, counted_e)
if h == ARGV[2] then
  if att_n == 0 then redis.call('DEL', KEYS[2]) else put(KEYS[2], att_n, att_e) end
  redis.call('DEL', KEYS[1])
  return {'ok', max_attempts - att_n, 0, e}
end
att_n, att_e = att_n + 1, counted_e
if max_attempts > 0 and att_n >= max_attempts then
  redis.call('DEL', KEYS[1])
  return {'locked', 0, att_e - now}
end
return {'mismatch', max_attempts - att_n, 0}
"""
)

# KEYS: code    ARGV: now, code_hash, expires
RESTORE_SCRIPT = (
    _LUA_HELPERS
    + """
local exp = tonumber(ARGV[3])
if exp <= now then return 0 end
redis.call('SET', KEYS[1], ARGV[2] .. ':' .. string.format('%d', exp), 'PX', exp - now, 'NX')
return 0
"""
)

# KEYS: counters    ARGV: now, window, limit of each counter
# Returns {0, 0}, or {wait, i} for the first counter i (1-based) at its limit.
HIT_SCRIPT = (
    _LUA_HELPERS
    + """
local window = tonumber(ARGV[2])
local counts, exps = {}, {}
for i, key in ipairs(KEYS) do
  local n, e = read(key)
  if n >= tonumber(ARGV[i + 2]) then return {e - now, i} end
  if n == 0 then e = now + window end
  counts[i], exps[i] = n, e
end
for i, key in ipairs(KEYS) do put(key, counts[i] + 1, exps[i]) end
return {0, 0}
"""
)

# KEYS: counters    ARGV: now
REFUND_SCRIPT = (
    _LUA_HELPERS
    + """
for _, key in ipairs(KEYS) do
  local n, e = read(key)
  if n > 0 then put(key, n - 1, e) end
end
return 0
"""
)

# The pumping guard and the traffic counters (see GuardStep).
# KEYS: block, day, hour, then NB burst buckets and NC conversion buckets, newest first
# ARGV: now, nb, nc, enforce, sent_field, refused_field, prefix_sent, prefix_verified,
#   region_sent, region_verified, region_day, burst_limit, cool_off, region_cap,
#   day_end, grace_buckets, prefix_min_sends, prefix_min_permille,
#   region_min_sends, region_min_permille, conv_bucket_ms,
#   burst_ttl, conv_ttl, day_ttl, hour_ttl
GUARD_SCRIPT = (
    _LUA_HELPERS
    + """
local nb, nc = tonumber(ARGV[2]), tonumber(ARGV[3])
local ps, pv, rs, rv, rday = ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local function num(v) return tonumber(v) or 0 end
local function stat(field)
  redis.call('HINCRBY', KEYS[2], field, 1)
  redis.call('PEXPIRE', KEYS[2], ARGV[24])
  redis.call('HINCRBY', KEYS[3], field, 1)
  redis.call('PEXPIRE', KEYS[3], ARGV[25])
end
local function refuse(rule, wait)
  if ARGV[6] ~= '' then stat(ARGV[6] .. rule) end
  return {0, rule, wait}
end
-- The block key is "strikes:blocked_until" and outlives the block by a day,
-- so that a prefix bursting again soon after is blocked twice as long.
local strikes, blocked = 0, 0
local raw = redis.call('GET', KEYS[1])
if raw then
  local a, b = string.match(raw, '^(%%d+):(%%d+)$')
  strikes, blocked = tonumber(a) or 0, tonumber(b) or 0
end
if ARGV[4] == '1' then
  if blocked > now then return refuse('prefix_blocked', blocked - now) end
  local cap = num(ARGV[14])
  if cap > 0 and num(redis.call('HGET', KEYS[2], rday)) >= cap then
    return refuse('region_cap', num(ARGV[15]) - now)
  end
  local burst = num(ARGV[12])
  if burst > 0 then
    local n = 0
    for i = 4, 3 + nb do n = n + num(redis.call('HGET', KEYS[i], ps)) end
    if n >= burst then
      local cool = math.min(num(ARGV[13]) * 2 ^ math.min(strikes, 20), %(day)d)
      redis.call('SET', KEYS[1], string.format('%%d:%%d', strikes + 1, now + cool),
        'PX', cool + %(day)d)
      return refuse('prefix_burst', cool)
    end
  end
  local grace = num(ARGV[16])
  local psent, pver, rsent, rver = 0, 0, 0, 0
  for j = 1, nc do
    local v = redis.call('HMGET', KEYS[3 + nb + j], ps, pv, rs, rv)
    if j > grace then
      psent = psent + num(v[1])
      rsent = rsent + num(v[3])
    end
    pver = pver + num(v[2])
    rver = rver + num(v[4])
  end
  local pmin, rmin = num(ARGV[17]), num(ARGV[19])
  if pmin > 0 and psent >= pmin and pver * 1000 < num(ARGV[18]) * psent then
    return refuse('prefix_conversion', num(ARGV[21]))
  end
  if rmin > 0 and rsent >= rmin and rver * 1000 < num(ARGV[20]) * rsent then
    return refuse('region_conversion', num(ARGV[21]))
  end
end
if nb > 0 then
  redis.call('HINCRBY', KEYS[4], ps, 1)
  redis.call('PEXPIRE', KEYS[4], ARGV[22])
end
if nc > 0 then
  redis.call('HINCRBY', KEYS[4 + nb], ps, 1)
  redis.call('HINCRBY', KEYS[4 + nb], rs, 1)
  redis.call('PEXPIRE', KEYS[4 + nb], ARGV[23])
end
redis.call('HINCRBY', KEYS[2], rday, 1)
redis.call('PEXPIRE', KEYS[2], ARGV[24])
if ARGV[5] ~= '' then stat(ARGV[5]) end
return {1, '', 0}
"""
    % {"day": DAY_MS}
)

# KEYS: the counter hashes    ARGV: n, then n (key index, field, delta), then a ttl per key
OPS_ADD_SCRIPT = """
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  local k = tonumber(ARGV[2 + i * 3])
  redis.call('HINCRBY', KEYS[k], ARGV[3 + i * 3], ARGV[4 + i * 3])
end
for k = 1, #KEYS do
  local ttl = tonumber(ARGV[2 + n * 3 + k - 1])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[k], ttl) end
end
return 0
"""


class _Script:
    """A Lua script called by SHA (EVALSHA), loaded with EVAL only when Redis lacks it.

    It exists in two forms (see the module's docstring): with a ``#!lua``
    shebang that declares its flags, for Redis 7 and Valkey, and without, for
    Redis 6. ``read_only`` scripts say ``flags=no-writes``, so they still run
    while the server is out of memory; all others are refused whole.
    """

    def __init__(self, source: str, *, read_only: bool = False) -> None:
        self.source = source
        self.flagged = ("#!lua flags=no-writes\n" if read_only else "#!lua\n") + source
        self.sha = _sha(source)
        self.flagged_sha = _sha(self.flagged)

    def __call__(self, client: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        from redis.exceptions import NoScriptError, ResponseError

        pool = getattr(client, "connection_pool", client)
        flagged = _takes_shebang(pool)
        try:
            return client.evalsha(
                self.flagged_sha if flagged else self.sha, len(keys), *keys, *args
            )
        except NoScriptError:
            pass
        # Not loaded: the first call on this server, or it restarted or failed
        # over, perhaps to a server of another version. The flagged form first.
        try:
            result = client.eval(self.flagged, len(keys), *keys, *args)
        except ResponseError as exc:
            if not _refuses_shebang(exc):
                raise
        else:
            _remember(pool, shebang=True)
            return result
        _remember(pool, shebang=False)
        return client.eval(self.source, len(keys), *keys, *args)


def _sha(source: str) -> str:
    return hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1


# Connection pools whose server refused a shebang (Redis 6). Weak, so a pool
# that is thrown away (settings changed, a cache closed) is forgotten with it.
_NO_SHEBANG: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
_NO_SHEBANG_IDS: set[int] = set()  # pools that cannot be weakly referenced


def _takes_shebang(pool: Any) -> bool:
    try:
        return not _NO_SHEBANG.get(pool, False)
    except TypeError:
        return id(pool) not in _NO_SHEBANG_IDS


def _remember(pool: Any, *, shebang: bool) -> None:
    try:
        if shebang:
            _NO_SHEBANG.pop(pool, None)
        else:
            _NO_SHEBANG[pool] = True
    except TypeError:
        (_NO_SHEBANG_IDS.discard if shebang else _NO_SHEBANG_IDS.add)(id(pool))


def _refuses_shebang(exc: BaseException) -> bool:
    """Whether ``exc`` is a server refusing a script's shebang line.

    Redis 6 cannot compile it (``unexpected symbol near '#'``); a server that
    knows shebangs but not a flag says ``Unexpected flag in script shebang``.
    An out-of-memory refusal is not one of these.
    """
    text = str(exc)
    return "near '#'" in text or "shebang" in text.lower()


_send = _Script(SEND_SCRIPT)
_release = _Script(RELEASE_SCRIPT)
_check = _Script(CHECK_SCRIPT)
_restore = _Script(RESTORE_SCRIPT)
_hit = _Script(HIT_SCRIPT)
_refund = _Script(REFUND_SCRIPT)
_guard = _Script(GUARD_SCRIPT)
_ops_add = _Script(OPS_ADD_SCRIPT)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisStore(VerificationStore):
    """Store on a Redis cache alias (django-redis or Django's ``RedisCache``)."""

    def __init__(self, cache: Any, client_getter: Callable[[], Any]) -> None:
        self.cache = cache
        self._client_getter = client_getter

    def _run(self, script: _Script, keys: Sequence[str | None], args: Sequence[Any]) -> Any:
        # Keys go through the cache's make_key so KEY_PREFIX and VERSION apply.
        full_keys = [self.cache.make_key(k) for k in keys if k is not None]
        try:
            client = self._client_getter()
            return script(client, full_keys, args)
        except Exception as exc:
            if not _is_connection_error(exc):
                raise
            if _is_out_of_memory(exc):
                logger.error(
                    "verification store out of memory (Redis maxmemory reached): "
                    "refused, answered 503"
                )
            else:
                logger.error("verification store unavailable: %s", type(exc).__name__)
            raise ServiceUnavailable() from exc

    def maxmemory_policy(self) -> str | None:
        """The server's ``maxmemory_policy`` (``INFO memory``), or ``None`` if it
        does not say. Errors propagate (for the deployment check, smsverify.W014)."""
        info = self._client_getter().info("memory")
        policy = info.get("maxmemory_policy") if isinstance(info, dict) else None
        return _text(policy) if policy is not None else None

    def reserve_send(self, keys: Keys, code_hash: str, policy: SendPolicy, now_ms: int) -> None:
        ok, scope, wait = self._run(
            _send,
            [
                keys.code,
                keys.cooldown,
                keys.attempts,
                keys.phone_hour,
                keys.phone_day,
                keys.ip_hour,
            ],
            [
                now_ms,
                code_hash,
                policy.code_ttl_ms,
                policy.cooldown_ms,
                policy.phone_per_hour,
                policy.phone_per_day,
                policy.ip_per_hour,
                policy.max_attempts,
            ],
        )
        if not int(ok):
            raise RateLimited(int(wait) / 1000, scope=_text(scope))

    def release_send(
        self, keys: Keys, code_hash: str, now_ms: int, *, keep_cooldown: bool = False
    ) -> None:
        self._run(
            _release,
            [keys.code, keys.cooldown, keys.phone_hour, keys.phone_day, keys.ip_hour],
            [now_ms, code_hash, "1" if keep_cooldown else "0"],
        )

    def check(self, keys: Keys, code_hash: str, max_attempts: int, now_ms: int) -> CheckResult:
        status, left, wait, *rest = self._run(
            _check, [keys.code, keys.attempts], [now_ms, code_hash, max_attempts]
        )
        status = _text(status)
        return CheckResult(
            status=status,
            attempts_left=max(0, int(left)),
            retry_after_ms=int(wait) if status == LOCKED else 0,
            expires_ms=int(rest[0]) if rest else 0,
        )

    def restore(self, keys: Keys, code_hash: str, expires_ms: int, now_ms: int) -> None:
        self._run(_restore, [keys.code], [now_ms, code_hash, expires_ms])

    def hit_many(self, limits: Sequence[Limit], window_ms: int, now_ms: int) -> None:
        if not limits:
            return
        wait, index = self._run(
            _hit, [lim.key for lim in limits], [now_ms, window_ms, *(lim.limit for lim in limits)]
        )
        if int(index):
            raise RateLimited(int(wait) / 1000, scope=limits[int(index) - 1].scope)

    def refund(self, keys: Sequence[str], now_ms: int) -> None:
        if keys:
            self._run(_refund, list(keys), [now_ms])

    def guard_send(self, step: GuardStep, now_ms: int) -> tuple[str, int]:
        f = step.fields
        ok, rule, wait = self._run(
            _guard,
            [step.block_key, step.day_key, step.hour_key, *step.burst_keys, *step.conv_keys],
            [
                now_ms,
                len(step.burst_keys),
                len(step.conv_keys),
                "1" if step.enforce else "0",
                step.sent_field,
                step.refused_field,
                f["prefix_sent"],
                f["prefix_verified"],
                f["region_sent"],
                f["region_verified"],
                f["region_day"],
                step.burst_limit,
                step.cool_off_ms,
                step.region_cap,
                step.day_end_ms,
                step.grace_buckets,
                step.prefix_min_sends,
                step.prefix_min_permille,
                step.region_min_sends,
                step.region_min_permille,
                step.conv_bucket_ms,
                step.burst_ttl_ms,
                step.conv_ttl_ms,
                step.day_ttl_ms,
                step.hour_ttl_ms,
            ],
        )
        if int(ok):
            return "", 0
        return _text(rule), max(1, int(wait))

    def _pipeline(self, build: Callable[[Any], None]) -> list[Any]:
        # Plain pipelining, no MULTI: one round trip, and on a cluster the
        # client splits it by slot.
        try:
            pipe = self._client_getter().pipeline(transaction=False)
            build(pipe)
            return list(pipe.execute())
        except Exception as exc:
            if not _is_connection_error(exc):
                raise
            logger.error("verification store unavailable: %s", type(exc).__name__)
            raise ServiceUnavailable() from exc

    def ops_add(self, changes: Sequence[Increment], ttls: dict[str, int], now_ms: int) -> None:
        if not changes:
            return
        # One script call: one round trip and one reply to parse (a pipeline
        # of the same commands costs a reply each).
        keys = list(dict.fromkeys([key for key, _field, _delta in changes] + list(ttls)))
        index = {key: i + 1 for i, key in enumerate(keys)}
        args: list[Any] = [len(changes)]
        for key, field, delta in changes:
            args += [index[key], field, delta]
        args += [int(ttls.get(key, 0)) for key in keys]
        self._run(_ops_add, keys, args)

    def ops_read(self, keys: Sequence[str], now_ms: int) -> list[dict[str, int]]:
        if not keys:
            return []

        def build(pipe: Any) -> None:
            for key in keys:
                pipe.hgetall(self.cache.make_key(key))

        return [{_text(k): int(v) for k, v in (raw or {}).items()} for raw in self._pipeline(build)]


def _is_connection_error(exc: BaseException) -> bool:
    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover - the store is only built when redis is present
        RedisError = ()  # type: ignore[assignment,misc]
    if isinstance(exc, (RedisError, OSError)):
        return True
    try:
        from django_redis.exceptions import ConnectionInterrupted
    except ImportError:
        return False
    return isinstance(exc, ConnectionInterrupted)


def _is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is Redis refusing a write at ``maxmemory`` (``-OOM ...``)."""
    try:
        from redis.exceptions import OutOfMemoryError
    except ImportError:  # pragma: no cover - redis-py before 4.4
        return "maxmemory" in str(exc)
    return isinstance(exc, OutOfMemoryError) or "maxmemory" in str(exc)
