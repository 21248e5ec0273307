"""``Trimmer``: drop the stream entries every reader has acknowledged, and nothing else.

Usage (each reader, now and then: the workers on their heartbeat, the ingress on its own)::

    trimmer = Trimmer(client)
    removed = await trimmer.trim(["waiter:in:w1", "waiter:in:any:3"], group="workers")

Redis keeps an acknowledged entry in its stream until someone trims it, so without this every
event the cluster ever carried would stay in memory. ``XTRIM MAXLEN`` is no answer: it drops the
oldest entries whether or not they were read. This trims by id instead (``XTRIM MINID``) up to
the oldest entry the group still needs: the oldest pending one (read, not yet acknowledged), or,
with none pending, the last one delivered (everything before it was acknowledged; everything
after it is unread). The group's own view decides, in one script per call, atomically, so an
entry read between the look and the trim cannot be lost.
"""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis

from ..exceptions import DeliveryError
from ._redis import Guard

__all__ = ["Trimmer"]

# KEYS: streams. ARGV: group. Returns how many entries were removed in all. A stream without
# the group (or that does not exist) is left alone: nobody has said what it still needs.
_TRIM = """
local removed = 0
for _, stream in ipairs(KEYS) do
  local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', stream)
  if ok then
    for _, group in ipairs(groups) do
      local info = {}
      for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
      if info['name'] == ARGV[1] then
        local keep = info['last-delivered-id']
        if tonumber(info['pending']) > 0 then
          keep = redis.call('XPENDING', stream, ARGV[1])[2]
        end
        if keep ~= '0-0' then
          removed = removed + redis.call('XTRIM', stream, 'MINID', keep)
        end
      end
    end
  end
end
return removed
"""


class Trimmer:
    """Trims streams to what their consumer group still needs (see the module docstring)."""

    __slots__ = ("_guard", "_script")

    def __init__(self, client: Redis, *, describe: str | None = None) -> None:
        self._guard = Guard(client, describe, 4, DeliveryError)
        self._script = client.register_script(_TRIM)

    async def trim(self, streams: Iterable[str], group: str) -> int:
        """Remove the entries of ``streams`` that ``group`` has acknowledged; how many went."""
        keys = list(dict.fromkeys(streams))
        if not keys:
            return 0
        async with self._guard(f"trim {len(keys)} stream(s) of group {group}") as client:
            removed = await self._script(keys=keys, args=[group], client=client)
        return int(removed)
