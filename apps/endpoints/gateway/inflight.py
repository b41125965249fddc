"""Calls in flight, bounded per key and per team, and shared out fairly at each inference server.

A team could once send as many long calls as it liked to the server every team shares, and
every other team waited behind them. Now a call holds a place from admission to its last byte:

1. ``reserve``: the key's and the team's places (``GATEWAY_MAX_IN_FLIGHT_PER_KEY`` / ``_TEAM``);
   over either is a 429 with ``Retry-After`` at once.
2. ``enter``: a place at one of the version's replicas' servers, the one with the fewest calls
   in flight. Up to a server's ``slots`` calls run there freely; past that, a team gets its fair
   share of the slots (slots / teams calling), and a team with nothing in flight always gets in.
   A call over its team's share everywhere waits, checking again every ``POLL_S``, until a place
   frees or its wait is over (then a 429 that says the server is busy). So one team's flood
   leaves each other team a place, and the flooding team waits for its own.

Places live in Redis sorted sets (member = call, score = when the place lapses), so every web
process sees the same counts, and a process that dies mid-call frees its places when they lapse.
Each check is one Lua script: atomic across processes.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from django.conf import settings

from .. import ratelimit

POLL_S = 0.05
# A place lapses this long after the call's timeout (a stream may run past its per-read
# timeout; a crashed process's places must not be held for ever).
LAPSE_MARGIN_S = 300

# KEYS: key set, team set, endpoint set. ARGV: now ms, lapse ms, member, weight, key cap, team
# cap. The endpoint's set counts the call from here (a call waiting for a server's place counts
# too: the autoscaler reads it as load).
_RESERVE = """
local function held(set, now)
  redis.call('ZREMRANGEBYSCORE', set, '-inf', now)
  local total = 0
  for _, member in ipairs(redis.call('ZRANGE', set, 0, -1)) do
    total = total + tonumber(string.match(member, '|(%d+)$'))
  end
  return total
end
local now, weight = tonumber(ARGV[1]), tonumber(ARGV[4])
local key_n = held(KEYS[1], now)
if key_n + weight > tonumber(ARGV[5]) then return {0, 'key', key_n} end
local team_n = held(KEYS[2], now)
if team_n + weight > tonumber(ARGV[6]) then return {0, 'team', team_n} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
for i = 1, 3 do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[3])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2]) - now)
end
return {1, '', 0}
"""

# KEYS: the candidate servers' sets (a version's replicas). ARGV: now ms, lapse ms, member
# ("team|call|weight"), team, weight, then each server's slots. Takes a place at the server with
# the least weight in flight among those that admit the team; returns {index (1-based; 0:
# refused), held, share} (held and share: the team's at the least busy server, when refused).
_ENTER = """
local now, team, weight = tonumber(ARGV[1]), ARGV[4], tonumber(ARGV[5])
local best, best_total, held, share = 0, nil, 0, 0
for i = 1, #KEYS do
  local slots = tonumber(ARGV[5 + i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  local total, mine, teams, count = 0, 0, {}, 0
  for _, member in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do
    local t, w = string.match(member, '^(.-)|.*|(%d+)$')
    w = tonumber(w)
    total = total + w
    if teams[t] == nil then teams[t] = true; count = count + 1 end
    if t == team then mine = mine + w end
  end
  local admitted = true
  if total + weight > slots and mine > 0 then
    if teams[team] == nil then count = count + 1 end
    local fair = math.max(1, math.floor(slots / count))
    if mine + weight > fair then
      admitted = false
      if share == 0 then held, share = mine, fair end
    end
  end
  if admitted and (best_total == nil or total < best_total) then best, best_total = i, total end
end
if best == 0 then return {0, held, share} end
redis.call('ZADD', KEYS[best], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[best], tonumber(ARGV[2]) - now)
return {best, 0, 0}
"""


@dataclass
class Refused:
    scope: str  # "key", "team" or "server"
    held: int
    limit: int


@dataclass
class Places:
    """The places one call holds; ``release`` gives them back (idempotent)."""

    key_set: str
    team_set: str
    server_set: str | None
    member: str
    server_member: str = ""
    endpoint_set: str = ""  # the call counts in its endpoint's calls from admission to its end
    released: bool = False

    async def leave_server(self) -> None:
        """Give back the place at the server only (the call moves to another replica)."""
        if self.server_member:
            client = await ratelimit.client()
            await client.zrem(self.server_set, self.server_member)
            self.server_member = ""

    async def release(self) -> None:
        if self.released:
            return
        self.released = True
        client = await ratelimit.client()
        async with client.pipeline(transaction=False) as pipe:
            pipe.zrem(self.key_set, self.member)
            pipe.zrem(self.team_set, self.member)
            if self.server_member:
                pipe.zrem(self.server_set, self.server_member)
            if self.endpoint_set:
                pipe.zrem(self.endpoint_set, self.member)
            await pipe.execute()


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


async def reserve(call_id: str, key: str, team: str, weight: int, timeout_s: float, endpoint_id=""):
    """The key's and team's places, or ``Refused``; the call counts in its endpoint's set."""
    client = await ratelimit.client()
    now = time.time()
    places = Places(
        f"fl:key:{key}",
        f"fl:team:{team}",
        None,
        f"{call_id}|{weight}",
        endpoint_set=endpoint_set(endpoint_id),
    )
    ok, scope, held = await client.eval(
        _RESERVE,
        3,
        places.key_set,
        places.team_set,
        places.endpoint_set,
        _ms(now),
        _ms(now + timeout_s + LAPSE_MARGIN_S),
        places.member,
        weight,
        settings.GATEWAY_MAX_IN_FLIGHT_PER_KEY,
        settings.GATEWAY_MAX_IN_FLIGHT_PER_TEAM,
    )
    if not ok:
        scope = scope.decode() if isinstance(scope, bytes) else scope
        limit = (
            settings.GATEWAY_MAX_IN_FLIGHT_PER_KEY
            if scope == "key"
            else settings.GATEWAY_MAX_IN_FLIGHT_PER_TEAM
        )
        return Refused(scope, int(held), limit)
    return places


def endpoint_set(endpoint_id) -> str:
    """The Redis set of an endpoint's calls in flight (autoscale.py counts it)."""
    return f"fl:endpoint:{endpoint_id}"


async def enter(
    places: Places, servers: list[tuple[str, int]], team: str, weight: int, timeout_s, wait_s
):
    """A place at one of ``servers`` ((address, slots): a version's replicas), the one with the
    fewest calls in flight that admits the team, waiting up to ``wait_s`` for its fair share.
    Returns the index of the server taken, or ``Refused`` (the places already held stay held:
    the caller releases)."""
    client = await ratelimit.client()
    call = places.member.split("|")[0]
    member = f"{team}|{call}|{weight}"
    keys = [f"fl:server:{url}" for url, _ in servers]
    deadline = time.monotonic() + wait_s
    while True:
        now = time.time()
        index, held, share = await client.eval(
            _ENTER,
            len(keys),
            *keys,
            _ms(now),
            _ms(now + timeout_s + LAPSE_MARGIN_S),
            member,
            team,
            weight,
            *[slots for _, slots in servers],
        )
        if index:
            places.server_set, places.server_member = keys[index - 1], member
            return index - 1
        if time.monotonic() + POLL_S > deadline:
            return Refused("server", int(held), int(share))
        await asyncio.sleep(POLL_S)
