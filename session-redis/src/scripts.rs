//! The Lua scripts. Each runs atomically on the node that owns its keys and
//! takes the caller's `now` (the store's clock) as an argument, so expiry
//! decisions follow that clock, not the server's; every script touches only
//! the keys it is given (one session hash, or one user index, or, where they
//! share a node, a session hash and its user's index).
//!
//! Timestamps travel as decimal strings and are written back as received:
//! Lua numbers are doubles, fine for comparisons of millisecond times but
//! never formatted back into a stored timestamp.

use redis::{Cmd, Script};

use crate::codec::LAYOUT;

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

/// Reading the session hash: `read_hash` runs a read command on it and
/// returns nil when the key holds another type than a hash (damaged data,
/// which the store reports as corrupt and does not write over), raising any
/// other error.
///
/// Reading and rewriting the packed metadata field `_m`
/// (`<layout>:<created>:<last seen>:<expires>:<revision>`, see
/// [`codec`](crate::codec)). `read_meta` returns its parts as strings, or nil
/// and the reason it cannot be read; it reads exactly what `Meta::decode`
/// reads (digits, at most `u64::MAX`, leading zeros allowed) and drops
/// leading zeros, so parts compare as text exactly when they are equal
/// numbers. `read_record` reads a session's `_m` with the other fields a
/// script asks for, or answers the reply for a missing or damaged record,
/// as the save and rebind scripts both give it. `bump` adds one to such a
/// decimal string exactly, at any length.
const META_FN: &str = r#"
local function read_hash(...)
  local reply = redis.pcall(...)
  if type(reply) == 'table' and reply.err then
    if string.find(reply.err, 'WRONGTYPE', 1, true) then
      return nil
    end
    error(reply)
  end
  return reply
end
local function decimal(digits)
  local n = string.gsub(digits, '^0+', '')
  if n == '' then
    return '0'
  end
  if #n > 20 then
    return nil
  end
  if #n == 20 then
    -- Past u64::MAX, 1844674407|3709551615? Halves of ten digits are exact
    -- as Lua numbers (and text order would follow Redis's locale).
    local high, low = tonumber(string.sub(n, 1, 10)), tonumber(string.sub(n, 11))
    if high > 1844674407 or (high == 1844674407 and low > 3709551615) then
      return nil
    end
  end
  return n
end
local function read_meta(m)
  local layout, rest = string.match(m, '^([^:]*):?(.*)$')
  if layout ~= '@LAYOUT@' then
    return nil, 'record format version "' .. tostring(layout) .. '" is not supported'
  end
  local c, s, e, r = string.match(rest, '^(%d+):(%d+):(%d+):(%d+)$')
  if c then
    c, s, e, r = decimal(c), decimal(s), decimal(e), decimal(r)
  end
  if not (c and s and e and r) then
    return nil, 'record metadata is damaged'
  end
  return {c, s, e, r}
end
-- The session's `_m`, parsed, with the other fields asked for (`m[2]` on):
-- `m, meta`; or `nil` and the reply to give, `{3, reason}` for a damaged
-- record, `{0}` for none.
local function read_record(key, ...)
  local m = read_hash('HMGET', key, '_m', ...)
  if not m then
    return nil, {3, 'the session key holds no hash'}
  end
  if not m[1] then
    if redis.call('EXISTS', key) == 1 then
      return nil, {3, 'record has no format version'}
    end
    return nil, {0}
  end
  local meta, reason = read_meta(m[1])
  if not meta then
    return nil, {3, reason}
  end
  return m, meta
end
local function bump(n)
  local i = #n
  while i > 0 and string.byte(n, i) == 57 do
    i = i - 1
  end
  if i == 0 then
    return '1' .. string.rep('0', #n)
  end
  return string.sub(n, 1, i - 1) .. string.char(string.byte(n, i) + 1) .. string.rep('0', #n - i)
end
"#;

/// `create`. KEYS: session hash, and in standalone mode the user index.
/// ARGV: now, PEXPIREAT argument, id, expiry (index score), then the hash's
/// field/value pairs. Returns 1 when created, 0 when a live (or unreadable)
/// record holds the id; an expired one is replaced. A hash holding exactly
/// the given pairs is this very create, applied by an earlier attempt whose
/// reply was lost (a client that sent it again): 1, nothing written. A
/// fresh id costs one `EXISTS`.
const CREATE: &str = r#"
local function written_already(key)
  local stored = redis.call('HGETALL', key)
  if #stored ~= #ARGV - 4 then
    return false
  end
  local given = {}
  for i = 5, #ARGV, 2 do
    given[ARGV[i]] = ARGV[i + 1]
  end
  for i = 1, #stored, 2 do
    if given[stored[i]] ~= stored[i + 1] then
      return false
    end
  end
  return true
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  local m = read_hash('HGET', KEYS[1], '_m')
  if not m then
    return 0
  end
  local meta = read_meta(m)
  if (not meta) or tonumber(meta[3]) > tonumber(ARGV[1]) then
    if meta and written_already(KEYS[1]) then
      return 1
    end
    return 0
  end
  -- Refused when out of memory, unlike the `DEL` (see the save script).
  redis.call('HSETNX', KEYS[1], '_m', m)
  redis.call('DEL', KEYS[1])
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

/// `save` and `touch`. KEYS: session hash; with a local cache this store's
/// marker key of the session (set and deleted at once when the hash is
/// written, so the write's invalidation names its writer; see
/// [`cache`](crate::cache)); last, when ARGV names a user, that user's
/// index. ARGV: now, expected revision or '', last seen, new expiry or '',
/// PEXPIREAT argument or '', the user whose index is the last key or '', the
/// session id (the index member) or '', the call's write id or '', the size
/// limit of the record, the number n of field/value pairs to set, the
/// 2n pair items, the number d of fields to delete, the d fields, then the
/// taken flash as field/value pairs: each is deleted only while it holds
/// that value, so a flash set again since it was read survives.
///
/// A write id (a cluster store's, whose client sends a call again when its
/// reply is late or its connection dropped) is kept in `_w` by the write it
/// names: a call finding its own id there was applied by an earlier attempt,
/// and replies saved again, writing nothing.
///
/// One `HMGET` reads `_m` and `_u`; one `HSET` writes the given fields and
/// `_m` when it changed (last seen moved later, a new expiry, or the revision
/// bumped by a data change). Timestamps are copied as received, never
/// formatted from Lua numbers. When the expiry moves later and the session
/// is bound to the named user, the index entry moves first: an index that
/// fails stops the script before the hash is written. A new expiry at or
/// before now (a rotation closing the old record) removes the entry, as the
/// hash goes at once.
///
/// A save that sets values is refused when the record it would leave is over
/// the limit: its data and flash (names without their namespace plus
/// values, as `FieldMap::byte_size`) and its binding's JSON text (`_b`, which
/// no save changes; the create measured it the same way). Reading the whole
/// hash costs more than the rest of the script, so it is read (`HGETALL`)
/// only when a bound says it may be over: the hash's `MEMORY USAGE` (all its
/// allocations, the binding's included; O(1) for a small,
/// listpack-encoded hash) is at least half its text, as an integer stored
/// compactly takes at least a byte per two digits, and the save adds at
/// most the values it sends (a Redis user refused `MEMORY` by its ACL gets
/// the full read every time). Saves that only remove values or move times
/// cannot grow the record and are not measured.
///
/// Replies `{0}` missing (absent or expired: nothing written), `{1, user or
/// nil, grew, _m, wrote, indexed}` saved, `{2, revision}` conflict, `{3,
/// reason}` corrupt (nothing written; also a data change to a record whose
/// revision cannot grow), `{4, size}` the record would be larger than the
/// limit (nothing written). In a saved reply, `grew` is 1 when the
/// expiry moved later; `_m` (as now stored, so a local copy can check it
/// followed) and `wrote` (1 when the hash was written at all) come only with
/// a marker, and `indexed` (1 when the index entry moved here) only when a
/// user was named: the client parses every item.
const PATCH: &str = r#"
local m, meta = read_record(KEYS[1], '_u')
if not m then
  return meta
end
if ARGV[8] ~= '' and redis.call('HGET', KEYS[1], '_w') == ARGV[8] then
  local reply = {1, m[2], 0}
  if ARGV[4] ~= '' then
    reply[3] = 1
  end
  if ARGV[6] ~= '' then
    reply[4] = 0
  end
  return reply
end
local e = tonumber(meta[3])
if e <= tonumber(ARGV[1]) then
  return {0}
end
if ARGV[2] ~= '' and ARGV[2] ~= meta[4] then
  return {2, meta[4]}
end
local last = 10 + 2 * tonumber(ARGV[10])
local deleted = last + 1 + tonumber(ARGV[last + 1])
local added = 0
for i = 11, last, 2 do
  added = added + #ARGV[i] - 2 + #ARGV[i + 1]
end
-- pcall: a Redis user without MEMORY in its ACL still gets the exact check.
local usage = last > 10 and redis.pcall('MEMORY', 'USAGE', KEYS[1], 'SAMPLES', '0')
if last > 10 and (type(usage) ~= 'number' or 2 * usage + added > tonumber(ARGV[9])) then
  local stored, sizes, values, size = redis.call('HGETALL', KEYS[1]), {}, {}, 0
  for i = 1, #stored, 2 do
    local namespace = string.sub(stored[i], 1, 2)
    if namespace == 'f:' or namespace == 'l:' then
      sizes[stored[i]] = #stored[i] - 2 + #stored[i + 1]
      values[stored[i]] = stored[i + 1]
    elseif stored[i] == '_b' then
      size = #stored[i + 1]
    end
  end
  for i = 11, last, 2 do
    sizes[ARGV[i]] = #ARGV[i] - 2 + #ARGV[i + 1]
    values[ARGV[i]] = ARGV[i + 1]
  end
  for i = last + 2, deleted do
    sizes[ARGV[i]] = nil
  end
  for i = deleted + 1, #ARGV, 2 do
    if values[ARGV[i]] == ARGV[i + 1] then
      sizes[ARGV[i]] = nil
    end
  end
  for _, n in pairs(sizes) do
    size = size + n
  end
  if size > tonumber(ARGV[9]) then
    return {4, size}
  end
end
local set = {}
for i = 11, last do
  set[#set + 1] = ARGV[i]
end
local seen = meta[2]
if tonumber(ARGV[3]) > tonumber(seen) then
  seen = ARGV[3]
end
local expires = meta[3]
if ARGV[4] ~= '' then
  expires = ARGV[4]
end
local revision = meta[4]
if last > 10 or #ARGV > last + 1 then
  if revision == '18446744073709551615' then
    return {3, 'record revision is at its maximum'}
  end
  revision = bump(revision)
end
local packed = '@LAYOUT@:' .. meta[1] .. ':' .. seen .. ':' .. expires .. ':' .. revision
if packed ~= m[1] then
  set[#set + 1] = '_m'
  set[#set + 1] = packed
end
if ARGV[8] ~= '' and (#set > 0 or ARGV[4] ~= '') then
  set[#set + 1] = '_w'
  set[#set + 1] = ARGV[8]
end
local keys, index, marker = #KEYS, nil, nil
if ARGV[6] ~= '' then
  index = KEYS[keys]
  keys = keys - 1
end
if keys == 2 then
  marker = KEYS[2]
end
local indexed = 0
if index and ARGV[4] ~= '' and m[2] == ARGV[6] and tonumber(ARGV[4]) <= tonumber(ARGV[1]) then
  -- A save that ends the session (a rotation closing the old record): the
  -- hash expires at once, so its index entry goes now, as a delete's does.
  redis.call('HSETNX', KEYS[1], '_m', m[1])
  index_update(index, ARGV[1], false, {ARGV[7]}, {})
  indexed = 1
elseif index and ARGV[4] ~= '' and m[2] == ARGV[6] and tonumber(ARGV[4]) > e then
  -- A no-op Redis refuses when out of memory: the index's first write is
  -- not refused, and once a script wrote, Redis lets its later writes (the
  -- data) through.
  redis.call('HSETNX', KEYS[1], '_m', m[1])
  index_update(index, ARGV[1], false, {}, {ARGV[4], ARGV[7]})
  indexed = 1
end
for i = 1, #set, 1000 do
  redis.call('HSET', KEYS[1], unpack(set, i, math.min(i + 999, #set)))
end
for i = last + 2, deleted, 1000 do
  redis.call('HDEL', KEYS[1], unpack(ARGV, i, math.min(i + 999, deleted)))
end
for i = deleted + 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
local grew = 0
if ARGV[4] ~= '' then
  redis.call('PEXPIREAT', KEYS[1], ARGV[5])
  if tonumber(ARGV[4]) > e then
    grew = 1
  end
end
local wrote = 0
if #set > 0 or ARGV[4] ~= '' then
  wrote = 1
  if marker then
    redis.call('SET', marker, '1')
    redis.call('DEL', marker)
  end
end
local reply = {1, m[2], grew}
if marker then
  reply[4] = packed
  reply[5] = wrote
end
if ARGV[6] ~= '' then
  reply[#reply + 1] = indexed
end
return reply
"#;

/// `rebind`. KEYS: session hash; with a local cache this store's marker key
/// of the session (set and deleted with the hash, as the save script does,
/// so that another store's save merged into the same invalidation is not
/// taken for its own echo). ARGV: now, the user the session must be bound
/// to, the new binding's JSON text, the size limit of the record.
///
/// Writes only `_b`: `_m` (times, revision), the data and the flash stay,
/// and so does `_u`, which the check requires to be the given user. A
/// moved marker (created at its own expiry) is never rebound. The size
/// check is the save script's, with the new binding in place of the stored
/// one: `MEMORY USAGE` first, `HGETALL` only when that does not show the
/// record well under the limit. A binding no longer than the stored one is
/// not measured: a record stored under a larger limit can still lose
/// permissions.
///
/// Sending it again (a cluster client's retry) writes the same value, so it
/// needs no write id.
///
/// Replies `{0}` not rebound (absent, expired, a moved marker, anonymous or
/// another user's: nothing written), `{1}` rebound, `{3, reason}` corrupt
/// (nothing written), `{4, size}` the record would be larger than the limit
/// (nothing written).
const REBIND: &str = r#"
local m, meta = read_record(KEYS[1], '_u', '_b')
if not m then
  return meta
end
if tonumber(meta[3]) <= tonumber(ARGV[1]) or meta[1] == meta[3] or m[2] ~= ARGV[2] then
  return {0}
end
local limit, added = tonumber(ARGV[4]), #ARGV[3]
-- Only a binding that grows the record is measured: one stored under a
-- larger limit can still lose permissions.
local grows = added > #(m[3] or '')
-- pcall: a Redis user without MEMORY in its ACL still gets the exact check.
local usage = grows and redis.pcall('MEMORY', 'USAGE', KEYS[1], 'SAMPLES', '0')
if grows and (type(usage) ~= 'number' or 2 * usage + added > limit) then
  local stored, size = redis.call('HGETALL', KEYS[1]), added
  for i = 1, #stored, 2 do
    local namespace = string.sub(stored[i], 1, 2)
    if namespace == 'f:' or namespace == 'l:' then
      size = size + #stored[i] - 2 + #stored[i + 1]
    end
  end
  if size > limit then
    return {4, size}
  end
end
redis.call('HSET', KEYS[1], '_b', ARGV[3])
if KEYS[2] then
  redis.call('SET', KEYS[2], '1')
  redis.call('DEL', KEYS[2])
end
return {1}
"#;

/// `delete`. KEYS: session hash; with a local cache this store's marker key
/// of the session, set and deleted with the hash, so that another store's
/// save merged into the same invalidation is not taken for its own echo;
/// with a write id, the session's tombstone key last. ARGV: now, '1' when
/// the session must be bound to the user in ARGV[3] (else '0'), that user or
/// '', the call's write id or '', the tombstone's time to live in
/// milliseconds. Replies `{live, user or nil}`: `live` is 1 when a record
/// that had not expired (or whose expiry cannot be read) was deleted. A key
/// of another type than a hash is such a record: deleted, unless it must be
/// bound to a user.
///
/// With a write id, a delete leaves a short-lived tombstone holding the id
/// and its reply, so a call its client sent again (see the save script)
/// gets the first attempt's reply instead of finding nothing.
const DELETE: &str = r#"
local tomb = nil
if ARGV[4] ~= '' then
  tomb = KEYS[#KEYS]
  local t = redis.call('HMGET', tomb, 'w', 'l', 'u')
  if t[1] == ARGV[4] then
    if t[3] then
      return {tonumber(t[2]), t[3]}
    end
    return {tonumber(t[2])}
  end
end
local m = read_hash('HMGET', KEYS[1], '_m', '_u') or {}
if ARGV[2] == '1' and m[2] ~= ARGV[3] then
  return {0}
end
if redis.call('DEL', KEYS[1]) == 0 then
  return {0}
end
if KEYS[2] and KEYS[2] ~= tomb then
  redis.call('SET', KEYS[2], '1')
  redis.call('DEL', KEYS[2])
end
local live = 1
if m[1] then
  local meta = read_meta(m[1])
  if meta and tonumber(meta[3]) <= tonumber(ARGV[1]) then
    live = 0
  end
end
if tomb then
  redis.call('DEL', tomb)
  if m[2] then
    redis.call('HSET', tomb, 'w', ARGV[4], 'l', live, 'u', m[2])
  else
    redis.call('HSET', tomb, 'w', ARGV[4], 'l', live)
  end
  redis.call('PEXPIRE', tomb, ARGV[5])
end
return {live, m[2]}
"#;

/// User index maintenance. KEYS: user index, the create marker (see
/// [`Keys::creating`](crate::keys::Keys::creating)) of each stale id, then,
/// when ARGV[6] is set, the create marker to set. ARGV: trim time or '',
/// 'xx' (raise existing entries only) or '', the number k of ids to remove,
/// the number s of stale ids (removed unless their create marker is set:
/// their session is being written on another node), the number o of
/// outdated entries (removed only while their score is at most the given
/// one: a refresh that raised or re-added an entry since it was read keeps
/// it), the marker's time to live in milliseconds or '', the k ids, the s
/// stale ids, the o `(score, id)` pairs, then `(expiry, id)` pairs to add or
/// raise. Replies the entry count.
const INDEX: &str = r#"
local k, s, o = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local removed, added = {}, {}
for i = 1, k do
  removed[#removed + 1] = ARGV[6 + i]
end
for i = 1, s do
  if redis.call('EXISTS', KEYS[1 + i]) == 0 then
    removed[#removed + 1] = ARGV[6 + k + i]
  end
end
for i = 7 + k + s, 6 + k + s + 2 * o, 2 do
  local current = redis.call('ZSCORE', KEYS[1], ARGV[i + 1])
  if current and tonumber(current) <= tonumber(ARGV[i]) then
    removed[#removed + 1] = ARGV[i + 1]
  end
end
for i = 7 + k + s + 2 * o, #ARGV do
  added[#added + 1] = ARGV[i]
end
local trim = nil
if ARGV[1] ~= '' then
  trim = ARGV[1]
end
index_update(KEYS[1], trim, ARGV[2] == 'xx', removed, added)
if ARGV[6] ~= '' then
  redis.call('SET', KEYS[#KEYS], '1', 'PX', ARGV[6])
end
return redis.call('ZCARD', KEYS[1])
"#;

/// One script: its code and SHA1, which the store sends (`EVALSHA`) with
/// keys and arguments written straight into the command.
#[derive(Debug, Clone)]
pub(crate) struct LuaScript {
    hash: String,
    code: String,
}

impl LuaScript {
    fn new(code: String) -> Self {
        let hash = Script::new(&code).get_hash().to_owned();
        Self { hash, code }
    }

    /// `EVALSHA <sha1> <keys>`, for the caller to add the keys and then the
    /// arguments (`args` of about `bytes` bytes in all).
    pub(crate) fn call(&self, keys: usize, args: usize, bytes: usize) -> Cmd {
        let mut cmd = Cmd::with_capacity(3 + keys + args, 64 + bytes);
        cmd.arg("EVALSHA").arg(&self.hash).arg(keys);
        cmd
    }

    /// `SCRIPT LOAD`, for a node that does not know the script (a restart, a
    /// new node); in a cluster the client sends it to every master.
    pub(crate) fn load(&self) -> Cmd {
        let mut cmd = redis::cmd("SCRIPT");
        cmd.arg("LOAD").arg(&self.code);
        cmd
    }

    #[cfg(test)]
    pub(crate) fn code(&self) -> &str {
        &self.code
    }
}

/// The store's scripts.
#[derive(Debug, Clone)]
pub(crate) struct Scripts {
    pub(crate) create: LuaScript,
    pub(crate) patch: LuaScript,
    pub(crate) rebind: LuaScript,
    pub(crate) delete: LuaScript,
    pub(crate) index: LuaScript,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        let meta = META_FN.replace("@LAYOUT@", LAYOUT);
        let patch = PATCH.replace("@LAYOUT@", LAYOUT);
        Self {
            create: LuaScript::new(format!("{INDEX_FN}{meta}{CREATE}")),
            patch: LuaScript::new(format!("{INDEX_FN}{meta}{patch}")),
            rebind: LuaScript::new(format!("{meta}{REBIND}")),
            delete: LuaScript::new(format!("{meta}{DELETE}")),
            index: LuaScript::new(format!("{INDEX_FN}{INDEX}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_filled_in_and_hashed() {
        let scripts = Scripts::new();
        for script in [
            &scripts.create,
            &scripts.patch,
            &scripts.rebind,
            &scripts.delete,
            &scripts.index,
        ] {
            assert!(!script.code().contains('@'), "{}", script.code());
            assert_eq!(script.hash, Script::new(script.code()).get_hash());
        }
        assert!(scripts.patch.code().contains("'2:' .. meta[1]"));
        let args: Vec<Vec<u8>> = scripts
            .delete
            .call(1, 0, 0)
            .args_iter()
            .map(|a| match a {
                redis::Arg::Simple(bytes) => bytes.to_vec(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(
            args,
            [
                b"EVALSHA".to_vec(),
                scripts.delete.hash.clone().into_bytes(),
                b"1".to_vec()
            ]
        );
    }
}
