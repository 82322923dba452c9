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

import functools
import hashlib
import importlib
import logging
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from django_smsverify.conf import app_settings
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
    SendState,
    VerificationStore,
)

logger = logging.getLogger("django_smsverify.store")

# Shared Lua helpers. read(key) returns count, expiry of a "n:exp" value that
# has not expired yet, or 0, 0. ttl(exp) is a PX value that is never < 1.
_LUA_HELPERS = """
local now = tonumber(ARGV[1])
if now < 0 then
  -- SMSVERIFY["CLOCK"] = "store": the server's clock decides, the same for
  -- every app server whatever its own clock says.
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
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

# What refuses a send, shared by the send and its read-only peek: the longest
# wait of a cooldown (KEYS[2]), a lock-out (KEYS[3]) and the quotas (KEYS[4..],
# with ``limits`` and ``scopes``); needs ``max_attempts``, leaves ``wait``,
# ``scope``, ``att_n``, ``att_e`` and ``counts`` (each quota's count, expiry).
_LUA_REFUSALS = """
local wait, scope = 0, ''
local function block(ms, s)
  if ms > wait then wait, scope = ms, s end
end
local cd_n, cd_e = read(KEYS[2])
if cd_e > 0 then block(cd_e - now, 'cooldown') end
local att_n, att_e = read(KEYS[3])
if max_attempts > 0 and att_n >= max_attempts then block(att_e - now, 'attempts') end
local counts = {}
for i = 4, #limits do
  if KEYS[i] then
    local n, e = read(KEYS[i])
    counts[i] = {n, e}
    if limits[i] > 0 and n >= limits[i] then block(e - now, scopes[i]) end
  end
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
%(refusals)s
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
    % {"hour": HOUR_MS, "day": DAY_MS, "refusals": _LUA_REFUSALS}
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
# KEYS: block, day, hour, then NB burst buckets and NC conversion buckets, newest
#   first, then the number's "seen" marker
# ARGV: now, nb, nc, enforce, sent_field, refused_field, prefix_sent, prefix_verified,
#   region_sent, region_verified, region_day, burst_limit, cool_off, region_cap,
#   day_end, grace_buckets, prefix_min_sends, prefix_min_permille,
#   region_min_sends, region_min_permille, conv_bucket_ms,
#   burst_ttl, conv_ttl, day_ttl, hour_ttl, seen_ttl
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
-- A number counts once per window in the buckets: repeats of one number (a
-- user asking again) are not a burst, nor do they dilute the conversion.
local seen = KEYS[#KEYS]
local fresh = redis.call('EXISTS', seen) == 0
if ARGV[4] == '1' then
  if blocked > now then return refuse('prefix_blocked', blocked - now) end
  local cap = num(ARGV[14])
  if cap > 0 and num(redis.call('HGET', KEYS[2], rday)) >= cap then
    return refuse('region_cap', num(ARGV[15]) - now)
  end
  local burst = num(ARGV[12])
  if burst > 0 and fresh then
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
if fresh then
  if nb > 0 then
    redis.call('HINCRBY', KEYS[4], ps, 1)
    redis.call('PEXPIRE', KEYS[4], ARGV[22])
  end
  if nc > 0 then
    redis.call('HINCRBY', KEYS[4 + nb], ps, 1)
    redis.call('HINCRBY', KEYS[4 + nb], rs, 1)
    redis.call('PEXPIRE', KEYS[4 + nb], ARGV[23])
  end
  redis.call('SET', seen, '1', 'PX', ARGV[26])
end
redis.call('HINCRBY', KEYS[2], rday, 1)
redis.call('PEXPIRE', KEYS[2], ARGV[24])
if ARGV[5] ~= '' then stat(ARGV[5]) end
if fresh then return {1, '', 1} end
return {1, '', 0}
"""
    % {"day": DAY_MS}
)

# KEYS: the counter hashes    ARGV: n, then n (key index, field, delta), then a ttl per
# key (0: leave it, -1: delete the key)
OPS_ADD_SCRIPT = """
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  local k = tonumber(ARGV[2 + i * 3])
  redis.call('HINCRBY', KEYS[k], ARGV[3 + i * 3], ARGV[4 + i * 3])
end
for k = 1, #KEYS do
  local ttl = tonumber(ARGV[2 + n * 3 + k - 1])
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[k], ttl)
  elseif ttl < 0 then
    redis.call('DEL', KEYS[k])
  end
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
        self.read_only = read_only
        #: Whether ARGV[1] is the clock (-1: the server's own, see ``CLOCK``).
        self.clocked = source.startswith(_LUA_HELPERS)
        self.flagged = ("#!lua flags=no-writes\n" if read_only else "#!lua\n") + source
        self.sha = _sha(source)
        self.flagged_sha = _sha(self.flagged)

    def __call__(self, client: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        # redis-py's or valkey-py's classes, whichever library the client is from.
        no_script, response_error = _client_errors("NoScriptError"), _client_errors("ResponseError")
        pool = getattr(client, "connection_pool", client)
        flagged = _takes_shebang(pool)
        try:
            return client.evalsha(
                self.flagged_sha if flagged else self.sha, len(keys), *keys, *args
            )
        except no_script:
            pass
        # Not loaded: the first call on this server, or it restarted or failed
        # over, perhaps to a server of another version. The flagged form first.
        try:
            result = client.eval(self.flagged, len(keys), *keys, *args)
        except response_error as exc:
            if not _refuses_shebang(exc):
                raise
        else:
            _remember(pool, shebang=True)
            return result
        _remember(pool, shebang=False)
        return client.eval(self.source, len(keys), *keys, *args)

    def durable(
        self, client: Any, keys: Sequence[str], args: Sequence[Any], replicas: int, timeout_ms: int
    ) -> tuple[Any, int]:
        """Run the script and ``WAIT replicas timeout_ms`` in one round trip,
        on one connection (``WAIT`` counts the writes of its own connection);
        return the script's result and how many replicas acknowledged."""
        pool = getattr(client, "connection_pool", client)
        flagged = _takes_shebang(pool)
        for attempt in ("evalsha", "eval"):
            pipe = client.pipeline(transaction=False)
            if attempt == "evalsha":
                pipe.evalsha(self.flagged_sha if flagged else self.sha, len(keys), *keys, *args)
            else:
                pipe.eval(self.flagged if flagged else self.source, len(keys), *keys, *args)
            pipe.execute_command("WAIT", replicas, timeout_ms)
            result, acks = pipe.execute(raise_on_error=False)
            if isinstance(result, _client_errors("NoScriptError")):
                continue
            if isinstance(result, Exception):
                raise result
            if isinstance(acks, Exception):
                raise acks
            return result, int(acks)
        raise _client_errors("NoScriptError")[0]("the script could not be loaded")


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

# Key rotation (see VerificationStore.peek_send): a send under the current
# key's names reads the number's keys under each fallback key's names first.
# KEYS: code, cooldown, attempts, phone_hour, phone_day
# ARGV: now, per_hour, per_day, max_attempts
# Returns {wait, scope, attempts, attempts_expiry, has_code}.
PEEK_SEND_SCRIPT = (
    _LUA_HELPERS
    + """
local limits = {0, 0, 0, tonumber(ARGV[2]), tonumber(ARGV[3])}
local scopes = {'', '', '', 'phone_hour', 'phone_day'}
local max_attempts = tonumber(ARGV[4])
"""
    + _LUA_REFUSALS
    + """
local has_code = 0
local v = redis.call('GET', KEYS[1])
if v then
  local e = tonumber(string.match(v, ':(%d+)$'))
  if e and e > now then has_code = 1 end
end
return {wait, scope, att_n, att_e, has_code}
"""
)

# KEYS: attempts    ARGV: now, attempts, expires
CARRY_ATTEMPTS_SCRIPT = (
    _LUA_HELPERS
    + """
local n, e = tonumber(ARGV[2]), tonumber(ARGV[3])
if n <= 0 or e <= now then return 0 end
local an, ae = read(KEYS[1])
if an >= n and ae >= e then return 0 end
if an < n then an = n end
if ae < e then ae = e end
put(KEYS[1], an, ae)
return 1
"""
)

# KEYS: code
DROP_CODE_SCRIPT = "redis.call('DEL', KEYS[1]) return 1"

_peek_send = _Script(PEEK_SEND_SCRIPT, read_only=True)
_carry_attempts = _Script(CARRY_ATTEMPTS_SCRIPT)
_drop_code = _Script(DROP_CODE_SCRIPT)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisStore(VerificationStore):
    """Store on a Redis cache alias (django-redis or Django's ``RedisCache``).

    On a Redis Cluster (the client is a ``RedisCluster``) a step whose keys
    live in several slots cannot be one script: the send with the per-IP quota
    on, a password attempt's phone and IP counters, and their give-backs run
    in two steps (see :meth:`reserve_send` and :meth:`hit_many`). Everywhere
    else, and on every step whose keys share a slot, each step is one script.
    """

    def __init__(self, cache: Any, client_getter: Callable[[], Any]) -> None:
        self.cache = cache
        self._client_getter = client_getter
        #: Whether the client is a cluster client; learnt on first use.
        self._cluster: bool | None = None

    def _client(self) -> Any:
        client = self._client_getter()
        if self._cluster is None:
            self._cluster = _is_cluster_client(client)
        return client

    def _run(self, script: _Script, keys: Sequence[str | None], args: Sequence[Any]) -> Any:
        # Keys go through the cache's make_key so KEY_PREFIX and VERSION apply.
        full_keys = [self.cache.make_key(k) for k in keys if k is not None]
        if script.clocked and app_settings.CLOCK == "store":
            args = [-1, *args[1:]]
        wait = app_settings.REPLICA_WAIT
        try:
            client = self._client()
            if wait and not script.read_only and not self._cluster:
                result, acks = script.durable(
                    client, full_keys, args, wait["REPLICAS"], wait["TIMEOUT_MS"]
                )
            else:
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
                _log_unavailable(exc)
            raise ServiceUnavailable() from exc
        if acks < wait["REPLICAS"]:
            # The master has the write, a replica may not: were it promoted
            # now, the step would be undone. Fail closed, as when Redis is down.
            logger.error(
                "verification store: %d of %d replicas acknowledged a write within %d ms: "
                "refused, answered 503",
                acks,
                wait["REPLICAS"],
                wait["TIMEOUT_MS"],
            )
            raise ServiceUnavailable()
        return result

    def _slots_differ(self, keys: Sequence[str]) -> bool:
        """Whether ``keys`` cannot run in one script: a cluster client, and
        keys in more than one slot. Only then does a step run in two steps."""
        if len(keys) < 2:
            return False
        if self._cluster is None:
            try:
                self._client()
            except Exception as exc:
                # A cluster with no reachable startup node fails here.
                if not _is_connection_error(exc):
                    raise
                _log_unavailable(exc)
                raise ServiceUnavailable() from exc
        if not self._cluster:
            return False
        return len({self._slot(key) for key in keys}) > 1

    def _slot(self, key: str) -> int:
        from redis.crc import key_slot

        return key_slot(str(self.cache.make_key(key)).encode())

    def _refund_quietly(self, keys: Sequence[str], now_ms: int, what: str) -> None:
        try:
            self.refund(keys, now_ms)
        except ServiceUnavailable:
            # Left counted, the limit is only stricter until its window ends.
            logger.warning("could not give back %s; it counts until its window ends", what)

    def maxmemory_policy(self) -> str | None:
        """The server's ``maxmemory_policy`` (``INFO memory``), or ``None`` if it
        does not say; on a cluster, a master's that is not ``noeviction`` if
        any. Errors propagate (for the deployment check, smsverify.W014)."""
        client = self._client_getter()
        if _is_cluster_client(client):
            # Each master has its own; the first that is not noeviction is the
            # one worth a warning.
            replies = client.info("memory", target_nodes=client.PRIMARIES)
            found = sorted(
                {_text(i["maxmemory_policy"]) for i in replies.values() if "maxmemory_policy" in i},
                key=lambda name: name == "noeviction",
            )
            return found[0] if found else None
        info = client.info("memory")
        policy = info.get("maxmemory_policy") if isinstance(info, dict) else None
        return _text(policy) if policy is not None else None

    def reserve_send(self, keys: Keys, code_hash: str, policy: SendPolicy, now_ms: int) -> None:
        """One script; on a cluster with the per-IP quota on, two steps.

        The IP key has a hash tag of its own, so on a cluster it is in
        another slot than the number's keys. Then the IP is counted first
        (its own script, refusing at the quota), the send script runs on
        the number's keys, and when it refuses or fails the IP's count is
        given back. Counting before sending means concurrent sends from one
        IP can never go over its quota: at worst a send is refused while
        another's count is still to be given back. A refusal by the IP's
        quota reports the IP's wait, not the longest of all limits.
        """
        phone_keys = [keys.code, keys.cooldown, keys.attempts, keys.phone_hour, keys.phone_day]
        ip_key = keys.ip_hour
        if ip_key is None or not self._slots_differ([keys.code, ip_key]):
            self._reserve([*phone_keys, ip_key], code_hash, policy, now_ms)
            return
        # A quota of 0 is off, and then nothing needs the IP's count.
        counted = policy.ip_per_hour > 0
        if counted:
            self.hit(ip_key, policy.ip_per_hour, HOUR_MS, now_ms, scope="ip_hour")
        try:
            self._reserve(phone_keys, code_hash, policy, now_ms)
        except BaseException:
            if counted:
                self._refund_quietly([ip_key], now_ms, "the per-IP count of a refused send")
            raise

    def _reserve(
        self, keys: Sequence[str | None], code_hash: str, policy: SendPolicy, now_ms: int
    ) -> None:
        ok, scope, wait = self._run(
            _send,
            keys,
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
        """One script; on a cluster with the IP key in another slot, the
        number's keys first, then the IP's count (as :meth:`refund`)."""
        phone_keys = [keys.code, keys.cooldown, keys.phone_hour, keys.phone_day]
        args = [now_ms, code_hash, "1" if keep_cooldown else "0"]
        if keys.ip_hour is not None and self._slots_differ([keys.code, keys.ip_hour]):
            self._run(_release, phone_keys, args)
            self.refund([keys.ip_hour], now_ms)
            return
        self._run(_release, [*phone_keys, keys.ip_hour], args)

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
        """One script; on a cluster with counters in several slots, one script
        per slot in turn (password login: the number's counter, then the
        IP's). When a later one refuses or fails, the earlier ones are given
        back, so nothing is counted for a use that was refused and no use
        goes uncounted: each counter is counted before the use it limits."""
        if not limits:
            return
        if not self._slots_differ([lim.key for lim in limits]):
            self._hit(limits, window_ms, now_ms)
            return
        groups: list[list[Limit]] = []
        for lim in limits:  # runs of neighbours in one slot stay one script
            if groups and self._slot(groups[-1][-1].key) == self._slot(lim.key):
                groups[-1].append(lim)
            else:
                groups.append([lim])
        taken: list[str] = []
        for group in groups:
            try:
                self._hit(group, window_ms, now_ms)
            except BaseException:
                if taken:
                    self._refund_quietly(taken, now_ms, "the counts of a refused use")
                raise
            taken += [lim.key for lim in group]

    def _hit(self, limits: Sequence[Limit], window_ms: int, now_ms: int) -> None:
        wait, index = self._run(
            _hit, [lim.key for lim in limits], [now_ms, window_ms, *(lim.limit for lim in limits)]
        )
        if int(index):
            raise RateLimited(int(wait) / 1000, scope=limits[int(index) - 1].scope)

    def refund(self, keys: Sequence[str], now_ms: int) -> None:
        """One script; on a cluster, one per slot (each is given back even
        when another slot fails; then ``ServiceUnavailable`` is raised)."""
        if not keys:
            return
        if not self._slots_differ(keys):
            self._run(_refund, list(keys), [now_ms])
            return
        by_slot: dict[int, list[str]] = {}
        for key in keys:
            by_slot.setdefault(self._slot(key), []).append(key)
        failed: ServiceUnavailable | None = None
        for group in by_slot.values():
            try:
                self._run(_refund, group, [now_ms])
            except ServiceUnavailable as exc:
                failed = exc
        if failed is not None:
            raise failed

    def guard_send(self, step: GuardStep, now_ms: int) -> tuple[str, int, bool]:
        f = step.fields
        ok, rule, wait = self._run(
            _guard,
            [
                step.block_key,
                step.day_key,
                step.hour_key,
                *step.burst_keys,
                *step.conv_keys,
                step.seen_key,
            ],
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
                step.seen_ttl_ms,
            ],
        )
        if int(ok):
            return "", 0, bool(int(wait))
        return _text(rule), max(1, int(wait)), False

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
            _log_unavailable(exc)
            raise ServiceUnavailable() from exc

    def ops_add(
        self,
        changes: Sequence[Increment],
        ttls: dict[str, int],
        now_ms: int,
        deletes: Sequence[str] = (),
    ) -> None:
        if not changes and not deletes:
            return
        # One script call: one round trip and one reply to parse (a pipeline
        # of the same commands costs a reply each).
        keys = list(
            dict.fromkeys([key for key, _field, _delta in changes] + list(ttls) + list(deletes))
        )
        index = {key: i + 1 for i, key in enumerate(keys)}
        args: list[Any] = [len(changes)]
        for key, field, delta in changes:
            args += [index[key], field, delta]
        # A ttl of -1 deletes the key.
        args += [-1 if key in deletes else int(ttls.get(key, 0)) for key in keys]
        self._run(_ops_add, keys, args)

    def ops_read(self, keys: Sequence[str], now_ms: int) -> list[dict[str, int]]:
        if not keys:
            return []

        def build(pipe: Any) -> None:
            for key in keys:
                pipe.hgetall(self.cache.make_key(key))

        return [{_text(k): int(v) for k, v in (raw or {}).items()} for raw in self._pipeline(build)]

    # Key rotation ------------------------------------------------------------

    def peek_send(self, keys: Keys, policy: SendPolicy, now_ms: int) -> SendState:
        wait, scope, attempts, attempts_exp, has_code = self._run(
            _peek_send,
            [keys.code, keys.cooldown, keys.attempts, keys.phone_hour, keys.phone_day],
            [now_ms, policy.phone_per_hour, policy.phone_per_day, policy.max_attempts],
        )
        return SendState(
            retry_after_ms=max(0, int(wait)),
            scope=_text(scope) if int(wait) > 0 else "",
            attempts=int(attempts),
            attempts_expires_ms=int(attempts_exp),
            has_code=bool(int(has_code)),
        )

    def carry_attempts(self, keys: Keys, attempts: int, expires_ms: int, now_ms: int) -> None:
        if attempts > 0 and expires_ms > now_ms:
            self._run(_carry_attempts, [keys.attempts], [now_ms, attempts, expires_ms])

    def drop_code(self, keys: Keys, now_ms: int) -> None:
        self._run(_drop_code, [keys.code], [now_ms])


@functools.cache
def _client_errors(name: str) -> tuple[type[BaseException], ...]:
    """redis-py's exception class ``name`` and its twin in valkey-py, whichever
    are installed (a site may have either library, or both).

    valkey-py is a fork with the same classes, named alike except that
    "Redis" reads "Valkey" (``RedisError`` is ``ValkeyError`` there).
    """
    classes = []
    for module, twin in (
        ("redis.exceptions", name),
        ("valkey.exceptions", name.replace("Redis", "Valkey")),
    ):
        try:
            classes.append(getattr(importlib.import_module(module), twin))
        except (ImportError, AttributeError):
            continue
    return tuple(classes)


def _is_connection_error(exc: BaseException) -> bool:
    # A cluster client's own errors (no reachable startup node, keys in
    # several slots, a slot no node serves) are not RedisError subclasses.
    cluster_errors = _client_errors("RedisClusterException")
    if isinstance(exc, (*_client_errors("RedisError"), *cluster_errors, OSError)):
        return True
    for module in ("django_redis.exceptions", "django_valkey.exceptions"):
        try:
            interrupted = importlib.import_module(module).ConnectionInterrupted
        except ImportError:
            continue
        if isinstance(exc, interrupted):
            return True
    return False


def _is_cluster_client(client: Any) -> bool:
    """Whether ``client`` is redis-py's ``RedisCluster`` (or valkey-py's twin)."""
    for module, name in (("redis.cluster", "RedisCluster"), ("valkey.cluster", "ValkeyCluster")):
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        if isinstance(client, cls):
            return True
    return False


def _log_unavailable(exc: BaseException) -> None:
    # The message too: "ClusterDownError" alone does not tell a cluster that
    # is failing over from one whose startup nodes are all wrong.
    message = " ".join(str(exc).split())[:300]
    logger.error(
        "verification store unavailable: %s%s",
        type(exc).__name__,
        f": {message}" if message else "",
    )


def _is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is Redis or Valkey refusing a write at ``maxmemory`` (``-OOM ...``)."""
    return isinstance(exc, _client_errors("OutOfMemoryError")) or "maxmemory" in str(exc)
