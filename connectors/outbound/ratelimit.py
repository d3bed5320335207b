"""Per-system rate limit: a token bucket, in Redis when ``REDIS_URL`` is configured (shared
by every worker), in process memory otherwise (the embedded demo: one worker).

The bucket holds at most one token, so the receiver never sees more than
``rate_limit_per_second`` requests in any second plus one: "held at the receiver", not
merely on average. One request (a whole batch) costs one token. When Redis does not
answer, the local bucket takes over for that call (delivery must not stop because the
shared limiter is away; each worker then holds the rate on its own).
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

logger = logging.getLogger(__name__)

BURST = 1.0

# KEYS[1] bucket; ARGV: rate, burst, now (seconds). Returns seconds to wait (0 = taken).
_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""


class _LocalBucket:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, rate: float, now: float) -> float:
        with self.lock:
            tokens, ts = self.buckets.get(key, (BURST, now))
            tokens = min(BURST, tokens + max(0.0, now - ts) * rate)
            if tokens >= 1:
                self.buckets[key] = (tokens - 1, now)
                return 0.0
            self.buckets[key] = (tokens, now)
            return (1 - tokens) / rate


_local = _LocalBucket()
_redis_client = None
_redis_script = None


def _redis():
    global _redis_client, _redis_script
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None, None
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        _redis_script = _redis_client.register_script(_LUA)
    return _redis_client, _redis_script


def _take(key: str, rate: float) -> float:
    # Redis TIME, not the worker's clock: workers on several hosts share one bucket.
    client, script = _redis()
    if client is not None:
        try:
            seconds, micros = client.time()
            return float(script(keys=[key], args=[rate, BURST, seconds + micros / 1e6]))
        except Exception as exc:  # redis.ConnectionError, TimeoutError...
            logger.warning("rate limiter: Redis unavailable (%s); local bucket for %s", exc, key)
    return _local.take(key, rate, time.monotonic())


def acquire(system, *, max_wait: float = 30.0) -> bool:
    """Block until ``system`` may receive one more request; ``False`` if that would take
    longer than ``max_wait`` seconds (the caller tries again later)."""
    rate = float(system.rate_limit_per_second)
    key = f"interlock:ratelimit:{system.pk}"
    deadline = time.monotonic() + max_wait
    while True:
        wait = _take(key, rate)
        if wait <= 0:
            return True
        if time.monotonic() + wait > deadline:
            return False
        time.sleep(wait)


def reset_local() -> None:
    """Forget local buckets (tests)."""
    _local.buckets.clear()
