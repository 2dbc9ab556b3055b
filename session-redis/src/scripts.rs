//! The Lua scripts. Each runs atomically on the node that owns its keys and
//! takes the caller's `now` (the store's clock) as an argument, so expiry
//! decisions follow that clock, not the server's; every script touches only
//! the keys it is given (one session hash, or one user index, or in
//! standalone `create` both).
//!
//! Timestamps travel as decimal strings and are written back as received:
//! Lua numbers are doubles, fine for comparisons of millisecond times but
//! never formatted back into a stored timestamp.

use redis::Script;

use session_core::record::FORMAT_VERSION;

/// Updates a user index: optional trim of entries whose expiry is at or
/// before `trim`, removals, then adds or raises `(expiry, id)` pairs (raises
/// only, when `only_existing`), and finally sets the key's own expiry to its
/// latest entry (Redis deletes an emptied sorted set by itself).
const INDEX_FN: &str = r#"
local function index_update(key, trim, only_existing, removed, added)
  if trim then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', trim)
  end
  for _, id in ipairs(removed) do
    redis.call('ZREM', key, id)
  end
  for i = 1, #added, 2 do
    local expires, id = added[i], added[i + 1]
    local current = redis.call('ZSCORE', key, id)
    if current then
      if tonumber(current) < tonumber(expires) then
        redis.call('ZADD', key, expires, id)
      end
    elseif not only_existing then
      redis.call('ZADD', key, expires, id)
    end
  end
  local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if top[2] then
    local at = math.min(tonumber(top[2]), 253402300799999)
    redis.call('PEXPIREAT', key, string.format('%.0f', at))
  end
end
"#;

/// `create`. KEYS: session hash, and in standalone mode the user index.
/// ARGV: now, PEXPIREAT argument, id, expiry (index score), then the hash's
/// field/value pairs. Returns 1 when created, 0 when a live (or unreadable)
/// record holds the id; an expired one is replaced.
const CREATE: &str = r#"
local e = redis.call('HGET', KEYS[1], '_e')
if e then
  local n = tonumber(e)
  if (not n) or n > tonumber(ARGV[1]) then
    return 0
  end
  redis.call('DEL', KEYS[1])
elseif redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
for i = 5, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
if KEYS[2] then
  index_update(KEYS[2], ARGV[1], false, {}, {ARGV[4], ARGV[3]})
end
return 1
"#;

/// `save` and `touch`. KEYS: session hash. ARGV: now, expected revision or
/// '', last seen, new expiry or '', PEXPIREAT argument or '', the number n of
/// field/value pairs to set, the 2n pair items, then the fields to delete.
///
/// Replies `{0}` missing (absent or expired: nothing written), `{1, user or
/// nil, grew}` saved (`grew` is 1 when the expiry moved later), `{2,
/// revision}` conflict, `{3, reason}` corrupt (nothing written).
const PATCH_TEMPLATE: &str = r#"
local m = redis.call('HMGET', KEYS[1], '_v', '_e', '_r', '_s', '_u')
if not m[2] then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return {3, 'expiry is missing'}
  end
  return {0}
end
if m[1] ~= '@VERSION@' then
  return {3, 'record format version ' .. tostring(m[1]) .. ' is not supported'}
end
local e = tonumber(m[2])
if not e then
  return {3, 'expiry is not a number'}
end
if e <= tonumber(ARGV[1]) then
  return {0}
end
local revision = m[3] or '0'
if ARGV[2] ~= '' and ARGV[2] ~= revision then
  return {2, revision}
end
local last = 6 + 2 * tonumber(ARGV[6])
local set = {}
for i = 7, last do
  set[#set + 1] = ARGV[i]
end
if tonumber(ARGV[3]) > (tonumber(m[4]) or 0) then
  set[#set + 1] = '_s'
  set[#set + 1] = ARGV[3]
end
if ARGV[4] ~= '' then
  set[#set + 1] = '_e'
  set[#set + 1] = ARGV[4]
end
for i = 1, #set, 1000 do
  redis.call('HSET', KEYS[1], unpack(set, i, math.min(i + 999, #set)))
end
for i = last + 1, #ARGV, 1000 do
  redis.call('HDEL', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if last > 6 or #ARGV > last then
  redis.call('HINCRBY', KEYS[1], '_r', 1)
end
local grew = 0
if ARGV[4] ~= '' then
  redis.call('PEXPIREAT', KEYS[1], ARGV[5])
  if tonumber(ARGV[4]) > e then
    grew = 1
  end
end
return {1, m[5], grew}
"#;

/// `delete`. KEYS: session hash. ARGV: now, '1' when the session must be
/// bound to the user in ARGV[3] (else '0'). Replies `{live, user or nil}`:
/// `live` is 1 when a record that had not expired was deleted.
const DELETE: &str = r#"
local m = redis.call('HMGET', KEYS[1], '_e', '_u')
if ARGV[2] == '1' and m[2] ~= ARGV[3] then
  return {0}
end
if redis.call('DEL', KEYS[1]) == 0 then
  return {0}
end
local e = tonumber(m[1])
if e and e <= tonumber(ARGV[1]) then
  return {0, m[2]}
end
return {1, m[2]}
"#;

/// User index maintenance. KEYS: user index. ARGV: trim time or '', 'xx'
/// (raise existing entries only) or '', the number k of ids to remove, the k
/// ids, then `(expiry, id)` pairs to add or raise. Replies the entry count.
const INDEX: &str = r#"
local k = tonumber(ARGV[3])
local removed, added = {}, {}
for i = 4, 3 + k do
  removed[#removed + 1] = ARGV[i]
end
for i = 4 + k, #ARGV do
  added[#added + 1] = ARGV[i]
end
local trim = nil
if ARGV[1] ~= '' then
  trim = ARGV[1]
end
index_update(KEYS[1], trim, ARGV[2] == 'xx', removed, added)
return redis.call('ZCARD', KEYS[1])
"#;

/// The loaded scripts (sent by SHA, loaded on a node when it does not know
/// them, for example after a restart).
#[derive(Debug, Clone)]
pub(crate) struct Scripts {
    pub(crate) create: Script,
    pub(crate) patch: Script,
    pub(crate) delete: Script,
    pub(crate) index: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        let patch = PATCH_TEMPLATE.replace("@VERSION@", &FORMAT_VERSION.to_string());
        Self {
            create: Script::new(&format!("{INDEX_FN}{CREATE}")),
            patch: Script::new(&patch),
            delete: Script::new(DELETE),
            index: Script::new(&format!("{INDEX_FN}{INDEX}")),
        }
    }
}
