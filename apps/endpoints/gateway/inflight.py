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
Each check is one Lua script, atomic across processes; ``take`` runs both steps in one script
(one round trip when a server has room: the gateway's added latency is mostly round trips).
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

# The Lua pieces. ``held``: the weight a set holds once its lapsed places are dropped.
_HELD = """
local function held(set, now)
  redis.call('ZREMRANGEBYSCORE', set, '-inf', now)
  local total = 0
  for _, member in ipairs(redis.call('ZRANGE', set, 0, -1)) do
    total = total + tonumber(string.match(member, '|(%d+)$'))
  end
  return total
end
"""

# ``reserve``: the key's and team's places (KEYS[1], KEYS[2]), and the call counted in its
# endpoint's set (KEYS[3]) from here on: a call waiting for a server's place counts too, the
# autoscaler reads it as load. ARGV[1..6]: now ms, lapse ms, member ("call|weight"), weight, key
# cap, team cap. Returns ok (1/0), the scope refused and what it held.
_RESERVE_FN = """
local function reserve(now, lapse, member, weight, key_cap, team_cap)
  local key_n = held(KEYS[1], now)
  if key_n + weight > key_cap then return 0, 'key', key_n end
  local team_n = held(KEYS[2], now)
  if team_n + weight > team_cap then return 0, 'team', team_n end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  for i = 1, 3 do
    redis.call('ZADD', KEYS[i], lapse, member)
    redis.call('PEXPIRE', KEYS[i], tonumber(lapse) - now)
  end
  return 1, '', 0
end
"""

# ``enter``: a place at the server with the least weight in flight among those that admit the
# team. The servers' sets are KEYS[first..], their slots ARGV[slots_at..] in the same order;
# member is "team|call|weight". Returns the server's position (1-based; 0: refused) and, when
# refused, the team's weight held and fair share at the least busy server.
_ENTER_FN = """
local function enter(first, slots_at, now, lapse, member, team, weight)
  local best, best_total, held_n, share = 0, nil, 0, 0
  for i = first, #KEYS do
    local slots = tonumber(ARGV[slots_at + i - first])
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    local total, mine, teams, count = 0, 0, {}, 0
    for _, m in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do
      local t, w = string.match(m, '^(.-)|.*|(%d+)$')
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
        if share == 0 then held_n, share = mine, fair end
      end
    end
    if admitted and (best_total == nil or total < best_total) then best, best_total = i, total end
  end
  if best == 0 then return 0, held_n, share end
  redis.call('ZADD', KEYS[best], lapse, member)
  redis.call('PEXPIRE', KEYS[best], tonumber(lapse) - now)
  return best - first + 1, 0, 0
end
"""

# KEYS: the key's, team's and endpoint's sets. ARGV: now, lapse, member, weight, key cap, team cap.
_RESERVE = (
    _HELD
    + _RESERVE_FN
    + """
local ok, scope, n = reserve(tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4]),
  tonumber(ARGV[5]), tonumber(ARGV[6]))
return {ok, scope, n}
"""
)

# KEYS: the candidate servers' sets (a version's replicas). ARGV: now, lapse, server member,
# team, weight, then each server's slots. Returns {position (0: refused), held, share}.
_ENTER = (
    _ENTER_FN
    + """
local i, h, s = enter(1, 6, tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]))
return {i, h, s}
"""
)

# Both in one round trip, the common case (a call admitted straight to a server). KEYS: the
# key's, team's and endpoint's sets, then the servers'. ARGV: now, lapse, member, weight, key
# cap, team cap, server member, team, then each server's slots. Returns {0, scope, held} when
# the key or team is full; {1, 0, held, share} when reserved but every server refused (the
# caller waits, entering again); {1, position, 0, 0} when a server took it.
_TAKE = (
    _HELD
    + _RESERVE_FN
    + _ENTER_FN
    + """
local now, weight = tonumber(ARGV[1]), tonumber(ARGV[4])
local ok, scope, n = reserve(now, ARGV[2], ARGV[3], weight, tonumber(ARGV[5]), tonumber(ARGV[6]))
if ok == 0 then return {0, scope, n} end
local i, h, s = enter(4, 9, now, ARGV[2], ARGV[7], ARGV[8], weight)
return {1, i, h, s}
"""
)


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


def _places(call_id: str, key: str, team: str, weight: int, endpoint_id) -> Places:
    return Places(
        f"fl:key:{key}",
        f"fl:team:{team}",
        None,
        f"{call_id}|{weight}",
        endpoint_set=endpoint_set(endpoint_id),
    )


def _caps() -> tuple[int, int]:
    return settings.GATEWAY_MAX_IN_FLIGHT_PER_KEY, settings.GATEWAY_MAX_IN_FLIGHT_PER_TEAM


def _refused(scope, held) -> Refused:
    scope = scope.decode() if isinstance(scope, bytes) else scope
    key_cap, team_cap = _caps()
    return Refused(scope, int(held), key_cap if scope == "key" else team_cap)


async def reserve(call_id: str, key: str, team: str, weight: int, timeout_s: float, endpoint_id=""):
    """The key's and team's places, or ``Refused``; the call counts in its endpoint's set."""
    client = await ratelimit.client()
    now = time.time()
    places = _places(call_id, key, team, weight, endpoint_id)
    ok, scope, held = await ratelimit.script(client, _RESERVE)(
        keys=[places.key_set, places.team_set, places.endpoint_set],
        args=[_ms(now), _ms(now + timeout_s + LAPSE_MARGIN_S), places.member, weight, *_caps()],
        client=client,
    )
    return places if ok else _refused(scope, held)


def endpoint_set(endpoint_id) -> str:
    """The Redis set of an endpoint's calls in flight (autoscale.py counts it)."""
    return f"fl:endpoint:{endpoint_id}"


def _server_keys(servers: list[tuple[str, int]]) -> list[str]:
    return [f"fl:server:{url}" for url, _ in servers]


async def take(
    call_id: str,
    key: str,
    team: str,
    weight: int,
    timeout_s: float,
    endpoint_id,
    servers: list[tuple[str, int]],
):
    """``reserve`` then ``enter`` in one round trip (the common case: a server has room).
    Returns (places, the server's index), (places, None) when every server refused the team
    (the caller holds the places, then waits with ``enter``), or ``Refused`` by the key or team
    (nothing held). Cancelled or failed while the script runs, whatever it took is given back."""
    client = await ratelimit.client()
    now = time.time()
    places = _places(call_id, key, team, weight, endpoint_id)
    member = _server_member(places, team, weight)
    keys = _server_keys(servers)
    try:
        answer = await ratelimit.script(client, _TAKE)(
            keys=[places.key_set, places.team_set, places.endpoint_set, *keys],
            args=[
                _ms(now),
                _ms(now + timeout_s + LAPSE_MARGIN_S),
                places.member,
                weight,
                *_caps(),
                member,
                team,
                *[slots for _, slots in servers],
            ],
            client=client,
        )
    except BaseException:
        # The script may have run without its answer being read: take nothing for ever.
        await asyncio.shield(_forget(client, places, keys, member))
        raise
    if not answer[0]:
        return _refused(answer[1], answer[2])
    index = int(answer[1])
    if not index:
        return places, None
    places.server_set, places.server_member = keys[index - 1], member
    return places, index - 1


async def _forget(client, places: Places, server_keys: list[str], member: str) -> None:
    async with client.pipeline(transaction=False) as pipe:
        for name in (places.key_set, places.team_set, places.endpoint_set):
            pipe.zrem(name, places.member)
        for name in server_keys:
            pipe.zrem(name, member)
        await pipe.execute()


def _server_member(places: Places, team: str, weight: int) -> str:
    return f"{team}|{places.member.split('|')[0]}|{weight}"


async def enter(
    places: Places, servers: list[tuple[str, int]], team: str, weight: int, timeout_s, wait_s
):
    """A place at one of ``servers`` ((address, slots): a version's replicas), the one with the
    fewest calls in flight that admits the team, waiting up to ``wait_s`` for its fair share.
    Returns the index of the server taken, or ``Refused`` (the places already held stay held:
    the caller releases)."""
    client = await ratelimit.client()
    member = _server_member(places, team, weight)
    keys = _server_keys(servers)
    script = ratelimit.script(client, _ENTER)
    deadline = time.monotonic() + wait_s
    while True:
        now = time.time()
        index, held, share = await script(
            keys=keys,
            args=[
                _ms(now),
                _ms(now + timeout_s + LAPSE_MARGIN_S),
                member,
                team,
                weight,
                *[slots for _, slots in servers],
            ],
            client=client,
        )
        if index:
            places.server_set, places.server_member = keys[index - 1], member
            return index - 1
        if time.monotonic() + POLL_S > deadline:
            return Refused("server", int(held), int(share))
        await asyncio.sleep(POLL_S)
