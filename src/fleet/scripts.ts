/**
 * The fleet's server-side Lua scripts: one round trip per publish and per report batch. Every
 * key is `{FLEET_NAME}:…` (one hash tag: a fleet stays in one Cluster slot) and declared in KEYS.
 *
 * KEYS[1] events (stream), KEYS[2] blocks (hash: address → the event's fields as JSON),
 * KEYS[3] expiry (sorted set: address → expiry ms, +inf = never).
 */

/** Drops at most 100 expired current blocks: a bounded cost on each call. */
const PRUNE = `
local now = tonumber(ARGV[2])
local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)
if #old > 0 then
  redis.call('HDEL', KEYS[2], unpack(old))
  redis.call('ZREM', KEYS[3], unpack(old))
end
`;

/**
 * ARGV: maxlen, nowMs, then the event's fields (encodeEvent order: k at 4, a at 8, e at 18).
 * A block already current fleet-wide is not added again (returns false); else the stream id.
 */
export const PUBLISH_LUA = `${PRUNE}
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
local kind, address, expires = fields[4], fields[8], tonumber(fields[18])
if kind == 'block' then
  if redis.call('HEXISTS', KEYS[2], address) == 1 then return false end
  redis.call('HSET', KEYS[2], address, cjson.encode(fields))
  redis.call('ZADD', KEYS[3], expires == 0 and '+inf' or expires, address)
else
  redis.call('HDEL', KEYS[2], address)
  redis.call('ZREM', KEYS[3], address)
end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
`;

/**
 * The fleet-wide trigger. KEYS[4..]: one hits key per reported hit (`{F}:hits:ADDRESS`).
 * ARGV: maxlen, nowMs, trigger, windowMs, maxPerSource, member, banMs, then per hit:
 * address, family-free mode, port. Each hits key is a sorted set of "member|port" → ms,
 * trimmed to the window and to maxPerSource, with an expiry of the window. A source reaching
 * `trigger` distinct entries is published as a block of origin "fleet". Returns those addresses.
 */
export const REPORT_LUA = `${PRUNE}
local trigger, window, cap = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local member, banMs = ARGV[6], tonumber(ARGV[7])
local blocked = {}
for i = 4, #KEYS do
  local base = 8 + (i - 4) * 3
  local address, mode, port = ARGV[base], ARGV[base + 1], ARGV[base + 2]
  local key = KEYS[i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  redis.call('ZADD', key, now, member .. '|' .. port)
  local n = redis.call('ZCARD', key)
  if n > cap then
    redis.call('ZREMRANGEBYRANK', key, 0, n - cap - 1)
    n = cap
  end
  redis.call('PEXPIRE', key, window)
  if n >= trigger and redis.call('HEXISTS', KEYS[2], address) == 0 then
    local expires = banMs > 0 and (now + banMs) or 0
    local fields = {'v', '1', 'k', 'block', 'o', 'fleet', 'a', address, 'm', mode, 'p', port,
      'c', 'fleet sweep: ' .. n .. ' members/ports', 's', tostring(now), 'e', tostring(expires)}
    redis.call('HSET', KEYS[2], address, cjson.encode(fields))
    redis.call('ZADD', KEYS[3], expires == 0 and '+inf' or expires, address)
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
    redis.call('DEL', key)
    blocked[#blocked + 1] = address
  end
end
return blocked
`;

export interface FleetKeys {
  readonly events: string;
  readonly blocks: string;
  readonly expiry: string;
  hits(address: string): string;
}

export function fleetKeys(name: string): FleetKeys {
  const p = `{${name}}:`;
  return {
    events: `${p}events`,
    blocks: `${p}blocks`,
    expiry: `${p}expiry`,
    hits: (address) => `${p}hits:${address}`,
  };
}
