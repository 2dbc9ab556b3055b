//! A Redis session store for `session-core`: standalone or Redis Cluster.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use session_core::{Key, SessionService};
//! use session_redis::RedisStore;
//!
//! let store = RedisStore::builder()
//!     .url("redis://127.0.0.1:6379")
//!     // or: .cluster_urls(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])
//!     .key_prefix("myapp:")
//!     .connect_timeout(Duration::from_millis(500))
//!     .response_timeout(Duration::from_millis(500))
//!     .build()?;
//! store.ping().await?; // optional: fail at start-up if Redis is not there
//!
//! let sessions = SessionService::builder().store(store).key(Key::generate()).build()?;
//! # let _ = sessions; Ok(()) }
//! ```
//!
//! # Layout
//!
//! - One hash per session, `<prefix>s:{<id>}`: `_m` the metadata, packed
//!   in one field as `<layout>:<created>:<last seen>:<expires>:<revision>`
//!   (layout `2`; times in ms since the epoch), `_b` binding (JSON) and `_u`
//!   its user id, then `f:<name>` per data field and `l:<name>` per flash
//!   value (values are the fields' JSON text); in a cluster also `_w`, the
//!   last save's write id (see Outages). A one-field session is two
//!   hash fields, so its `HGETALL` reply is four strings.
//! - The key expires by itself at the session's expiry (`PEXPIREAT`), so
//!   Redis drops expired sessions. The store also treats a record whose
//!   expiry is at or before its own clock's now (the caller's, for
//!   `load_at`) as absent, in every operation.
//! - One sorted set per user, `<prefix>u:{<user id>}`: session ids scored by
//!   expiry. The key expires with its longest-lived entry; expired entries
//!   are trimmed at each login, and listings check every entry against its
//!   session (present, live, bound to this user), removing those that fail.
//!   Listing or revoking costs O(sessions of that user).
//! - A record whose layout is unknown, or whose metadata is damaged, is
//!   [`StoreError::Corrupt`](session_core::StoreError::Corrupt) (the service
//!   treats it as no session); writes never touch such a record. That
//!   includes records of layout 1 (one hash field per metadata item, `_v`
//!   `1`), written by earlier releases: sessions from before an upgrade read
//!   as absent once, and users get a new session. The scripts read `_m`
//!   exactly as `load` does (digits only, at most `u64::MAX`, leading zeros
//!   read as the number). A session key holding another type than a hash is
//!   corrupt too: listings skip it, saves, touches and creates leave it as
//!   it is, `delete` removes it. A data or flash value that is not JSON
//!   text (written behind the store's back) makes the record corrupt to
//!   `load`, as any damage does to a file store record (one JSON document),
//!   so the service treats the session as absent, by its invalid-data
//!   policy, whatever fields a request reads. Writes check `_m` only: a
//!   binding (`_b`) that does not decode makes the record corrupt to `load`
//!   and listings, a data value to `load`, but a save or touch still
//!   applies to it (the service only saves a session it loaded; the scripts
//!   check ownership by `_u`).
//!
//! # Commands per operation
//!
//! | operation | round trips | what is sent |
//! | --- | --- | --- |
//! | `load` | 1 | `HGETALL` (no write) |
//! | `save` (data or flash) | 1 | one script: `HMGET` of `_m`, `_u`, `MEMORY USAGE` when it sets values (the size limit; `HGETALL` too when that does not show the record well under it), then one `HSET` of only the changed fields and `_m` (last seen, revision), `HDEL` of removed ones |
//! | `save`/`touch` moving a bound session's expiry later, the user named (as the session service does), standalone | 1 | the script moves the index entry too (with `PEXPIREAT`) |
//! | the same in a cluster, index on another node | 2 | index script, then the script |
//! | the same without the user named | 2 | the script, then one index script |
//! | `touch` of an anonymous session | 1 | the script: `_m` (expiry, last seen), `PEXPIREAT` |
//! | `create` anonymous | 1 | one script |
//! | `create` bound (login), standalone | 1 | one script (session and index) |
//! | `create` bound (login), cluster | 2 | index script, then create script |
//! | `rebind` | 1 | one script: `HMGET` of `_m`, `_u`, `MEMORY USAGE` (the size limit; `HGETALL` too when that does not show the record well under it), then one `HSET` of `_b` |
//! | `delete` | 1, or 2 for a bound session | delete script, index script |
//! | `list_for_user` | 2 (3 when cleaning) | `ZRANGE`, one `HMGET` per session sent concurrently, index script |
//! | `delete_for_user` | 3 | `ZRANGE`, one delete script per session sent concurrently, index script |
//! | `list` | 1 + per `SCAN` step (in a cluster +1, +2 on the last page) | `SCAN` steps, concurrent `HMGET`s |
//!
//! Concurrent commands share a multiplexed connection per node, so a batch
//! sent together costs about one round trip. On a standalone server the
//! commands that requests send in the same turn of the runtime also go out
//! as one pipeline, in one write (automatic pipelining; see
//! [`RedisStoreBuilder::auto_pipeline`] to turn it off).
//!
//! # Local cache (opt-in, standalone)
//!
//! With [`RedisStoreBuilder::local_cache`], the store keeps recently used
//! sessions in memory and Redis tells it when anyone changes one
//! (`CLIENT TRACKING` in broadcast mode over RESP3). A `load` of a cached
//! session sends nothing, and the `save` after it is the request's only
//! round trip.
//!
//! Redis merges the invalidations of one event loop iteration into one
//! message, one entry per key, so the echo of the store's own save looks
//! like anyone's change of that session. The save, rebind and delete
//! scripts of a store with a cache therefore also set and delete a marker
//! key, `<prefix>s:{<id>}:w:<writer>` (never stored; `<writer>` is random
//! per store): an invalidation of a session that carries this store's
//! marker and no other store's is its own echo, and the copy, which
//! followed the save, stays. Creates, deletes and rebinds drop the copy.
//! See the builder method for the coherence window and what it costs.
//!
//! # Atomicity (Redis Cluster)
//!
//! Every script touches keys of one slot only. Session keys hash on the id
//! (`{<id>}`), index keys on the user id (`{<user>}`), so in a cluster a
//! session and its user's index usually live on different nodes, and any
//! operation that touches both is two steps. Each such sequence is ordered
//! so that a failure in between is harmless:
//!
//! | operation | atomic? | in a cluster |
//! | --- | --- | --- |
//! | `load` | yes | one `HGETALL` of one hash |
//! | `save`, `touch` (data, flash, expiry, revision check) | yes | one script on the session hash: checks existence, the expiry in `_m` against the caller's now and the expected revision, then writes only the given fields, `_m` and `PEXPIREAT`; a vanished session is never recreated; a save that ends the record (a rotation's close) keeps its hash a minute, expired, so that a close the client sends again still answers saved |
//! | index refresh after `save`/`touch` moved a bound session's expiry, the caller naming the user ([`SessionPatch::user_id`](session_core::SessionPatch::user_id), the `user_id` of `touch`; the session service always names it) | in standalone mode (and with a hash-tagged prefix) | one script moves the index entry, then writes the session; in a cluster the index entry moves first, as a step of its own. Either way an index step that fails leaves the session unrefreshed: at worst a stale entry, never a live session dropping out of its index; for a session found missing the entry added first is removed again (best effort) |
//! | the same without the user named | no | second step on the index, for the user the hash names; if it fails the call reports the error, the session keeps its new expiry and its entry the old score (the next refresh repairs it; until then a trim after the old expiry may drop the entry, hiding the session from `list_for_user`/`delete_for_user`) |
//! | `rebind` | yes | one script on the session hash: checks existence, the expiry in `_m` against the caller's now, that it is no moved marker and that `_u` is the new binding's user, and the size limit with the new binding, then writes `_b` alone (times, revision, data and the index stay); sent again by the cluster client, it writes the same binding again |
//! | `create` (collision check and write) | yes | one script on the session hash; never overwrites a live id; finding exactly the record it writes (an attempt the client sent again after its reply was lost) it reports success instead of a collision |
//! | `create` with a user | no | index entry first, with a create marker beside it on the index's node (`<index>:c:<id>`, living 60 s), then the session: a failure leaves at worst a stale entry, never an unindexed session; a listing or revocation that runs in between finds no session but keeps the marked entry |
//! | `delete` | yes for the session | the session is deleted atomically; its index entry is removed in a second step, best effort (a stale entry is ignored and cleaned by listings; in a cluster, the entry of a session a rotation closed stays so until a listing) |
//! | `list_for_user` | no | a snapshot of the index, then each session read on its own; entries found stale are removed afterwards, except a missing session's entry while its create marker lives, and an expired or foreign session's entry that a refresh raised meanwhile |
//! | `delete_for_user` | per session | each session is deleted by its own script that checks it is bound to this user; then the handled entries leave the index. A session created meanwhile may survive; a failure part-way reports the error, having deleted some |
//! | `list` | no | `SCAN` per master, masters in node id order; sessions present for the whole listing are listed, others may or may not be. The page cursor names the master by node id and carries a fingerprint of the slot map; each `SCAN` goes by a slot of its master over the cluster client's own connections, with the node's id checked in the same write (a step that reached another node, the client's map being behind, is taken again once the client has read its map again, by a read of a key in the slot; if another node still answers, or a master is down, the page fails with `Unavailable` and its cursor can be used again). A page that finds the map changed since the cursor's page began (slots moved by a reshard, a master replaced by a fail-over) scans every master again from the first. The page that would end the listing asks every master for the slot migrations under way (keys move before the owner, and so the map, changes) and scans again, once, each master a slot migrates into from a master scanned after it; it then reads the map again and, if it changed, returns a cursor that starts over instead of none. A listing ends once the map holds still for a page: a reshard that lasts restarts pages until it ends. Still missed: a move the node asked for the map has not learned of yet, and keys a migration already moved into a node that serves no slot (a new master, or not a master: nothing routes to it). A page may come back short or empty with a new cursor (after a restart, or when it stopped scanning early: a page takes at most as many `SCAN` steps as sessions asked for, at least 64, each looking at up to 1,000 keys, and scans for at most half the operation timeout, so on a Redis shared with many other keys a listing goes on over more pages instead of timing out), never with its own. A version 2 cursor naming a master the unchanged map does not hold, or a list of masters to scan again that is not in increasing id order, not all after the current master, or as long as the masters, is refused (`InvalidCursor`); a version 1 cursor (earlier releases) goes on as before: masters by address, no restart on a reshard or migration check. A session may be listed on two pages (never twice on one): after such a restart or second scan, or when `SCAN` returns a key again because Redis shrank its table between steps, after many keys of the database went; callers that need each once drop repeats by id |
//!
//! In standalone mode the same holds, except that `create` with a user is
//! one atomic script over both keys; so it is in a cluster whenever both
//! keys share a slot, as they all do under a key prefix holding a hash tag
//! (such as `{app}:`), which pins every key to one slot served by one node.
//! A prefix whose first `{` is followed at once by `}` (an empty hash tag)
//! would have each key hashed whole, splitting a session from its
//! tombstone: the builder refuses it
//! ([`ConfigError::EmptyHashTagInPrefix`]).
//!
//! # Outages
//!
//! Every call is bounded by the operation timeout (by default connect plus
//! response timeout): when Redis is down or slow it fails within it with
//! [`StoreError::Unavailable`](session_core::StoreError::Unavailable) (refused
//! or lost connection) or [`StoreError::Timeout`](session_core::StoreError::Timeout),
//! which the web layer answers with 503. Each command's reply is bounded by
//! the response timeout (or the operation timeout, if shorter) inside the
//! client, so a call of one command on a live connection, such as `load`,
//! runs without a timer of its own; calls that connect first or send more
//! commands run under the operation timeout.
//!
//! On a standalone server all calls share one multiplexed connection. When
//! it drops, a new connection is made in the background at once; a load
//! that found it dropped is sent once more, on the new one, while other
//! calls that found it dropped fail; a failed connection attempt makes calls
//! fail at once for 50 ms, then the next call tries again. So the store
//! recovers when Redis is back, without a restart. A connection that goes
//! silent without closing (half-open: a NAT or load balancer dropped the
//! flow without a reset) is replaced the same way, cached copies dropped,
//! once a command times out at least a response timeout after an earlier
//! one with no reply in between, so after about two response timeouts of
//! silence; while idle, TCP keepalive (probes after 30 s) finds it. In a
//! cluster the client
//! reconnects and follows redirects itself, and sends a command again when
//! its reply is later than the response timeout or its connection dropped,
//! so a command may run twice. Saves and deletes carry a random write id
//! for that: a save keeps it in the hash (`_w`), a delete in a tombstone
//! `<prefix>s:{<id>}:d` living a minute past the operation timeout (at most
//! a day), and an attempt that finds its own id replies as the first one
//! did, applying nothing. (A second attempt that comes after another call's write to the
//! same session still runs again.) A master that goes silent with its
//! connections open (a frozen machine, a network path dropping packets)
//! sends no redirect, and the client sends its slots' commands to it again
//! and again, also after a replica took over: so once store calls keep
//! timing out (one at least a response timeout after another, within a
//! minute) the store makes a new cluster connection in the background,
//! which reads the slot map from the nodes that answer, and later calls
//! use it (logged: `redis cluster calls keep timing out ...; reconnecting`
//! at warn, `redis cluster connection replaced` at info). While a reshard
//! migrates a slot, Redis refuses a script whose keys are not all on the
//! node it reached with `TRYAGAIN` (a delete names its tombstone, a login's
//! index step its create marker, which seldom exist): the store sends it
//! again every 20 ms for up to a response timeout, so a logout or login
//! waits for the slot's migration instead of failing. A call that timed out may still have
//! been applied. Durability across a Redis restart is Redis's: with
//! `appendonly yes` and `appendfsync always` an acknowledged write survives.
//! So is durability across a fail-over: Redis replicates asynchronously and
//! the store does not wait for replicas (`WAIT`), so the writes a master
//! acknowledged but had not yet sent to the replica that takes its place
//! are lost: a session created just before is gone (its user logs in
//! again), a save's change is undone, and a delete or revocation is undone
//! too, its session live again until it expires.
//!
//! A store may outlive the tokio runtime that made its connection (a store
//! in a `static` shared by tests that each run their own runtime, or one
//! built in one runtime and used in another): the connection's driver ends
//! with that runtime, so the store then drops it, and its cached copies,
//! and the next call connects again from its own runtime, a write
//! included (a connection attempt the runtime left under way is started
//! again). A store used from two runtimes at once has its connection
//! driven by the one that made it: when that one shuts down, commands of
//! the other already sent on it fail (a load is sent once more, a write's
//! outcome is unknown), and pipelined commands not yet sent are queued
//! again. A connection attempt of a runtime that is alive but not running
//! its tasks (a current-thread runtime between two `block_on`s) is given
//! up by the other runtime's calls once it has not begun within 100 ms, or
//! not ended within the connect and response timeouts; they start their
//! own. One limit: such a runtime holds up the pipelined commands queued
//! behind its flush task, beyond the operation timeout; turn automatic
//! pipelining off for a store shared so.
//!
//! Run Redis with `maxmemory-policy noeviction` (its default): under any
//! other policy Redis may evict a user's index key apart from their session
//! keys, and such sessions then still load but escape `list_for_user` and
//! `delete_for_user`. The store reads the policy and the memory limit
//! (`INFO memory`, of every master in a cluster) when it first connects and
//! logs a warning when a limit is set under another policy (a user without
//! `INFO` skips the check).
//!
//! # Requirements
//!
//! Redis 6.0 or later (`SCAN ... TYPE`, variadic `HSET`); tested with 7.0.
//! Under ACLs, the save script asks `MEMORY USAGE` (`@read`) first to skip
//! reading the whole record for its size check; a user without it gets the
//! full read. In a cluster, `list` needs `cluster|slots`, `cluster|myid`
//! and `cluster|nodes`, and (to make the client read its slot map again)
//! `EXISTS` on a key `<prefix>s:{<n>}`, or, with a key prefix holding a hash
//! tag of its own, on a bare key `{<n>}` (`n` a number): a user whose key
//! patterns allow only the prefix then gets `Unavailable` from a page that
//! reached another node than its master. `CLUSTER SLOTS` must name node
//! ids (Redis 4.0 or later).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod batch;
mod cache;
mod cluster;
mod codec;
mod config;
mod connection;
mod error;
mod eviction;
mod keys;
mod listing;
mod rebind;
mod redact;
mod reply;
mod reports;
mod runtime_watch;
mod scripts;
mod store;
mod users;

pub use config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_LOCAL_CACHE_MAX_AGE, DEFAULT_MAX_RECORD_BYTES, DEFAULT_PREFIX,
    DEFAULT_RESPONSE_TIMEOUT, RedisStoreBuilder,
};
pub use error::ConfigError;
pub use redact::display_url;
pub use store::RedisStore;
