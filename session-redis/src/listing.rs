//! `list`: every live session, a page at a time, by `SCAN` over the session
//! hashes (on each master in turn in a cluster).
//!
//! The page cursor holds the node being scanned, its `SCAN` cursor and the
//! ids a `SCAN` step returned beyond the page's limit, so a page never
//! exceeds its limit and no id is returned twice because a step was split.
//! `SCAN` itself returns every key that exists for the whole iteration; a
//! key added or removed meanwhile may or may not be listed.
//!
//! A page's work is bounded: after its first step, it stops at as many
//! steps as sessions asked for (at least [`MIN_SCAN_STEPS`]) or once it has
//! scanned for half the operation timeout, and returns what it found, short
//! or empty, with its cursor. So a listing on a Redis shared with many
//! other keys goes on over more pages instead of every page timing out.
//!
//! In a cluster each page reads the slot map (which master serves which
//! slots) from any one node. The cursor names the master by node id, which
//! every node reports alike (they may know a master by different
//! addresses); masters go in id order, and the cursor holds a fingerprint
//! of the map, built from ids too. A `SCAN` goes by a slot the master
//! serves, over the cluster client's own connections, with the node's id
//! asked on the same connection in the same write: when another node
//! answered (the client's map is behind the page's), the step is dropped,
//! the client is made to read the map again, and the step is taken again,
//! once: another miss (a master down, a map still behind) fails the page
//! with `Unavailable`, its cursor good for later, so no page returns its
//! own cursor with nothing done.
//! Slots that move during a listing (a reshard, a fail-over) may take
//! sessions from a master not yet scanned to one already scanned, so a page
//! that finds another map than the cursor's scans every master again from
//! the first. The page that would end the listing asks every master, at
//! once, for the slot migrations under way (keys move before the slot's
//! owner, and so the map, changes): a master that a slot migrates into from
//! a master scanned after it is scanned again, once, since keys only go
//! from source to target. That page then reads the map again and, if it
//! changed, returns a cursor that starts over rather than none: sessions
//! are listed again rather than missed. A restart only follows a change, so
//! a listing finishes once the map holds still for a page; a reshard that
//! lasts restarts pages until it ends. Masters answering the migration
//! check that do not match the page's map fail the page (`Unavailable`).
//! Still missed: a move that the node asked for the map has not learned of
//! yet, and keys a migration already moved into a node that serves no slot
//! (a new master, or not a master): nothing routes to it, so starting over
//! would not find them either, and the listing ends.
//!
//! Version 1 cursors (earlier releases) name masters by address and hold no
//! map: a listing resumed from one goes on in version 1 to its end, in
//! address order, moving past a master it no longer finds, never restarting
//! on a reshard.
//!
//! `SCAN` may also return a key twice: when the database's table shrinks
//! between steps (Redis resizes it after many keys went), the cursor goes
//! over buckets it had seen. A page drops repeats; across pages they stay,
//! since telling them apart would take the ids of every earlier page in the
//! cursor, or an index of all sessions written by every create, refresh and
//! delete.

use std::collections::HashSet;
use std::time::Instant;

use redis::Value;
use session_core::{Page, PageRequest, SessionId, SessionInfo, StoreError};

use crate::codec::{Listed, parse_digits};
use crate::connection::{Master, Migration, ScanNodes};
use crate::error::unexpected;
use crate::reply;
use crate::store::RedisStore;

/// Most keys one `SCAN` step is asked to look at.
const MAX_SCAN_COUNT: usize = 1000;

/// Most sessions on one page, whatever the caller asks for.
pub(crate) const MAX_PAGE: usize = 1000;

/// Most `SCAN` steps one page takes is the number of sessions asked for,
/// but at least this many (each step looks at up to [`MAX_SCAN_COUNT`]
/// keys): on a Redis shared with many other keys a page stops with what it
/// found and a cursor, rather than scanning on until the operation timeout
/// fails it.
const MIN_SCAN_STEPS: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Position {
    /// The next `SCAN` runs on master `node` (its id; its address in a
    /// version 1 cursor) from `cursor`.
    Scan { node: String, cursor: u64 },
    /// Every node has been scanned.
    Done,
}

#[derive(Debug, Clone, PartialEq)]
struct Cursor {
    position: Position,
    pending: Vec<SessionId>,
    /// The slot map fingerprint when the page that made the cursor began;
    /// `None` for version 1, which had none and names masters by address.
    map: Option<u64>,
    /// Once every master was scanned and slots were found migrating into
    /// some: the masters still to scan again after `position`'s, in order.
    /// `None` before that check.
    rescan: Option<Vec<String>>,
}

impl Cursor {
    /// `2|<node id>|<scan cursor>|<pending ids, comma separated>|<map, hex>`,
    /// then `|<ids of masters to scan again, comma separated>` once the
    /// migration check asked for them; version 1 is `1|<host:port>|<scan
    /// cursor>|<pending ids>`.
    const VERSION: &'static str = "2";

    fn start(masters: &[Master], map: u64) -> Self {
        Self {
            position: route(masters, false)
                .first()
                .map_or(Position::Done, |(node, _)| Position::Scan {
                    node: (*node).to_owned(),
                    cursor: 0,
                }),
            pending: Vec::new(),
            map: Some(map),
            rescan: None,
        }
    }

    /// Version 1: masters named by address.
    fn by_address(&self) -> bool {
        self.map.is_none()
    }

    /// Where a page goes on from `text` (the first page's `None`), given the
    /// current masters and slot map.
    fn resume(text: Option<&str>, masters: &[Master], map: u64) -> Result<Self, StoreError> {
        let Some(text) = text else {
            return Ok(Self::start(masters, map));
        };
        let mut cursor = Self::decode(text)?;
        if cursor.map.is_some_and(|was| was != map) {
            // Slots moved since the last page began: sessions of a master not
            // yet scanned may now be on one already scanned.
            tracing::debug!(
                "the cluster's slot map changed during a listing; scanning every master again"
            );
            return Ok(Self::start(masters, map));
        }
        let route = route(masters, cursor.by_address());
        let known = |node: &str| route.iter().any(|(name, _)| *name == node);
        let node = match &cursor.position {
            Position::Scan { node, .. } => Some(node.as_str()),
            Position::Done => None,
        };
        if cursor.by_address() {
            // Version 1: the node left the cluster (or this page's node knows
            // it by another address); go on with the next one.
            if let Some(node) = node.filter(|node| !known(node)) {
                cursor.position = next_node(&route, node);
            }
            return Ok(cursor);
        }
        // The map is built from the masters' ids, so under the same map an
        // unknown id is from no cursor this store made.
        let rescan = cursor.rescan.as_deref().unwrap_or_default();
        if node
            .into_iter()
            .chain(rescan.iter().map(String::as_str))
            .any(|node| !known(node))
        {
            return Err(StoreError::InvalidCursor(text.to_owned()));
        }
        // The listing's end makes the list sorted, each master once, all
        // after the position, fewer than the masters: anything else is
        // forged, and each repeat would cost a full SCAN in one page call.
        let increasing = rescan.windows(2).all(|w| w[0] < w[1]);
        let after = rescan
            .first()
            .is_none_or(|first| node.is_some_and(|node| node < first.as_str()));
        if !increasing || !after || rescan.len() >= masters.len() {
            return Err(StoreError::InvalidCursor(text.to_owned()));
        }
        Ok(cursor)
    }

    /// Past the end of `node`'s `SCAN`: the next master on `route`, or the
    /// next to scan again.
    fn advance(&mut self, route: &[(&str, &Master)], node: &str) {
        self.position = match &mut self.rescan {
            None => next_node(route, node),
            Some(rescan) if rescan.is_empty() => Position::Done,
            Some(rescan) => Position::Scan {
                node: rescan.remove(0),
                cursor: 0,
            },
        };
    }

    fn is_finished(&self) -> bool {
        self.position == Position::Done && self.pending.is_empty()
    }

    fn encode(&self) -> String {
        let (node, cursor) = match &self.position {
            Position::Scan { node, cursor } => (node.as_str(), *cursor),
            Position::Done => ("-", 0),
        };
        let pending: Vec<String> = self.pending.iter().map(SessionId::to_string).collect();
        let pending = pending.join(",");
        match (self.map, &self.rescan) {
            (Some(map), None) => format!("{}|{node}|{cursor}|{pending}|{map:016x}", Self::VERSION),
            (Some(map), Some(rescan)) => format!(
                "{}|{node}|{cursor}|{pending}|{map:016x}|{}",
                Self::VERSION,
                rescan.join(",")
            ),
            (None, _) => format!("1|{node}|{cursor}|{pending}"),
        }
    }

    fn decode(text: &str) -> Result<Self, StoreError> {
        let bad = || StoreError::InvalidCursor(text.to_owned());
        let parts: Vec<&str> = text.split('|').collect();
        let (node, cursor, pending, map, rescan) = match parts.as_slice() {
            ["1", node, cursor, pending] => (*node, *cursor, *pending, None, None),
            [Self::VERSION, node, cursor, pending, map, rescan @ ..] if rescan.len() <= 1 => {
                let map = parse_digits(map.as_bytes(), 16).ok_or_else(bad)?;
                let rescan = rescan.first().map(|ids| {
                    ids.split(',')
                        .filter(|id| !id.is_empty())
                        .map(str::to_owned)
                        .collect()
                });
                (*node, *cursor, *pending, Some(map), rescan)
            }
            _ => return Err(bad()),
        };
        let cursor = parse_digits(cursor.as_bytes(), 10).ok_or_else(bad)?;
        let pending = pending
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let position = match node {
            "-" => Position::Done,
            node => Position::Scan {
                node: node.to_owned(),
                cursor,
            },
        };
        Ok(Self {
            position,
            pending,
            map,
            rescan,
        })
    }
}

/// The masters in the order a listing visits them, each with its name in
/// the cursor: its id, or its address for a version 1 cursor.
fn route(masters: &[Master], by_address: bool) -> Vec<(&str, &Master)> {
    let mut route: Vec<(&str, &Master)> = masters
        .iter()
        .map(|m| {
            let name = if by_address { &m.address } else { &m.id };
            (name.as_str(), m)
        })
        .collect();
    route.sort_unstable_by(|a, b| a.0.cmp(b.0));
    route
}

/// The node after `node` on `route` (so a version 1 cursor naming a node
/// that left the cluster still moves on).
fn next_node(route: &[(&str, &Master)], node: &str) -> Position {
    route
        .iter()
        .find(|(name, _)| *name > node)
        .map_or(Position::Done, |(name, _)| Position::Scan {
            node: (*name).to_owned(),
            cursor: 0,
        })
}

/// The masters to scan again once every master was scanned, given the slot
/// migrations under way: each master a slot migrates into from a master
/// after it on the route. Its `SCAN` ran before the source's ended, so keys
/// that left the source before the source's `SCAN` reached them may have
/// come after its own; scanned again after, it holds each of them (keys
/// only go from source to target). A target after its source on the route
/// needs nothing: it was scanned after the source. `None` when a slot
/// migrates into a node that serves no slot yet (no master on the route).
fn to_rescan(route: &[(&str, &Master)], migrations: &[Migration]) -> Option<Vec<String>> {
    let mut rescan = Vec::new();
    for m in migrations {
        let to = route.iter().find(|(name, _)| *name == m.to)?;
        if route
            .iter()
            .any(|(name, _)| *name == m.from && *name > to.0)
        {
            rescan.push(to.0.to_owned());
        }
    }
    rescan.sort_unstable();
    rescan.dedup();
    Some(rescan)
}

/// `(next cursor, keys)` of a `SCAN` reply.
fn scan_reply(value: Value) -> Option<(u64, Vec<Vec<u8>>)> {
    let mut parts = reply::array(value)?.into_iter();
    let cursor = reply::text(parts.next()?)?.parse().ok()?;
    let keys = reply::array(parts.next()?)?
        .into_iter()
        .map(|k| reply::bytes(k).flatten())
        .collect::<Option<_>>()?;
    Some((cursor, keys))
}

impl RedisStore {
    pub(crate) async fn list_page(
        &self,
        page: PageRequest,
    ) -> Result<Page<SessionInfo>, StoreError> {
        let limit = page.limit.clamp(1, MAX_PAGE);
        let now = self.now();
        // Scanning stops after half the operation timeout, which leaves the
        // other half for the step under way and fetching what it found.
        let scan_until = Instant::now().checked_add(self.inner.timeout / 2);
        let max_steps = limit.max(MIN_SCAN_STEPS);
        let mut steps = 0;
        let mut conn = self.conn().await?;
        let ScanNodes { masters, map } = conn.scan_nodes().await.map_err(|e| self.err(e))?;
        let mut cursor = Cursor::resume(page.cursor.as_deref(), &masters, map)?;
        let route = route(&masters, cursor.by_address());
        let pattern = self.inner.keys.session_pattern();
        let base_count = limit.clamp(16, MAX_SCAN_COUNT);
        let mut count = base_count;
        let mut items = Vec::with_capacity(limit);
        let mut listed = HashSet::with_capacity(limit);
        loop {
            while items.len() < limit && !cursor.pending.is_empty() {
                let take = (limit - items.len()).min(cursor.pending.len());
                let chunk: Vec<SessionId> = cursor.pending.drain(..take).collect();
                let found = self.fetch_infos(&conn, &chunk).await?;
                for (id, found) in chunk.iter().zip(found) {
                    match found {
                        Ok(Listed::Found { info, .. }) if info.expires_at > now => {
                            if listed.insert(info.id) {
                                items.push(info);
                            }
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(session = %id.short(), error = %e,
                            "session does not decode; not listed"),
                    }
                }
            }
            if items.len() >= limit {
                break;
            }
            let Position::Scan { node, cursor: at } = &cursor.position else {
                break;
            };
            // At least one step, so the cursor always moves on.
            if steps > 0 && (steps >= max_steps || scan_until.is_some_and(|t| Instant::now() >= t))
            {
                break;
            }
            steps += 1;
            // `resume`, `advance` and `to_rescan` only name masters on the
            // route.
            let master = route
                .iter()
                .find(|(name, _)| name == node)
                .map(|(_, master)| *master)
                .ok_or_else(|| StoreError::InvalidCursor(cursor.encode()))?;
            let mut scan = redis::cmd("SCAN");
            scan.arg(*at)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(count)
                .arg("TYPE")
                .arg("hash");
            let reply = match conn
                .scan(master, scan.clone())
                .await
                .map_err(|e| self.err(e))?
            {
                Some(reply) => reply,
                None => {
                    // Another node scanned: the client routes the slot
                    // otherwise than this page's map (or the master's
                    // connection is down). The step is dropped and taken
                    // again, once, after the client read the map again; a
                    // second miss is an outage, not a page to retry forever.
                    tracing::debug!(node = %node, "a listing's SCAN reached another node; retried");
                    let unreachable = || {
                        StoreError::unavailable(format!(
                            "the cluster client does not reach master {node} \
                             (down, or the slot map is changing); the listing can go on \
                             from the same cursor later"
                        ))
                    };
                    conn.refresh_slot(master.slot, self.inner.keys.session_head())
                        .await
                        .map_err(|e| {
                            tracing::debug!(error = %e, "refreshing the cluster client's slot map");
                            unreachable()
                        })?;
                    conn.scan(master, scan)
                        .await
                        .map_err(|e| self.err(e))?
                        .ok_or_else(unreachable)?
                }
            };
            let (next, keys) = scan_reply(reply).ok_or_else(|| unexpected("SCAN"))?;
            let mut ids: Vec<SessionId> = keys
                .iter()
                .filter_map(|k| self.inner.keys.id_of(k))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            // Sparse matches: look at more keys per step; dense: fewer, so
            // the ids carried over in the cursor stay few.
            count = if ids.is_empty() {
                (count * 4).min(MAX_SCAN_COUNT)
            } else {
                base_count
            };
            // No map check on moving to the next master: the cursor keeps
            // the map this page began with, so a move during this page is
            // caught by the next page's check, or by the last page's below.
            if next == 0 {
                let node = node.clone();
                cursor.advance(&route, &node);
            } else {
                cursor.position = Position::Scan {
                    node: node.clone(),
                    cursor: next,
                };
            }
            cursor.pending = ids;
        }
        if cursor.is_finished()
            && let Some(began) = cursor.map
        {
            // Keys of a slot under migration move before its owner (and so
            // the map) changes. Asked before the map is read again, so a
            // migration that ends in between shows in the map. Once only:
            // the masters scanned again end the listing even if a migration
            // lasts.
            if cursor.rescan.is_none() {
                let Some(migrations) = conn.migrations(&masters).await.map_err(|e| self.err(e))?
                else {
                    // The client knows other masters than the page's map:
                    // made to read its map again, and the page fails (its
                    // cursor still good) rather than end unchecked.
                    for master in &masters {
                        if let Err(e) = conn
                            .refresh_slot(master.slot, self.inner.keys.session_head())
                            .await
                        {
                            tracing::debug!(error = %e, "refreshing the cluster client's slot map");
                        }
                    }
                    return Err(StoreError::unavailable(
                        "the cluster client's masters do not match the slot map \
                         (the cluster is changing); the listing can go on from the same \
                         cursor later",
                    ));
                };
                match to_rescan(&route, &migrations) {
                    Some(mut rescan) if !rescan.is_empty() => {
                        tracing::debug!(
                            "slots migrate into masters scanned before their sources; \
                             scanning those again"
                        );
                        cursor.position = Position::Scan {
                            node: rescan.remove(0),
                            cursor: 0,
                        };
                        cursor.rescan = Some(rescan);
                    }
                    Some(_) => {}
                    None => {
                        // A slot migrates into a node serving none (a new
                        // master, or not a master): nothing routes to it,
                        // and starting over would not either for as long
                        // as the migration lasts. The listing ends; keys
                        // already moved there are missed (documented).
                        tracing::debug!(
                            "a slot migrates into a node outside the slot map; \
                             keys already moved there are not listed"
                        );
                    }
                }
            }
            // A slot that moved during this page from a master it had not
            // scanned yet to one it had is on no page, and no later page is
            // left to notice: one more read of the map, on the last page
            // only. (Version 1 cursors never restart.)
            let now = conn.scan_nodes().await.map_err(|e| self.err(e))?;
            if now.map != began {
                tracing::debug!(
                    "the cluster's slot map changed during a listing's last page; \
                     scanning every master again"
                );
                cursor = Cursor::start(&now.masters, now.map);
            }
        }
        let next = (!cursor.is_finished()).then(|| cursor.encode());
        Ok(Page { items, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(node: &str, cursor: u64) -> Position {
        Position::Scan {
            node: node.into(),
            cursor,
        }
    }

    fn master(id: &str, address: &str) -> Master {
        Master {
            id: id.into(),
            address: address.into(),
            slot: 0,
        }
    }

    /// Masters `a` and `b`, each known by the address `a:1`, `b:1`.
    fn two() -> Vec<Master> {
        vec![master("a", "a:1"), master("b", "b:1")]
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = Cursor {
            position: at("07c37dfeb235213a872192d90877d0cd55635b91", 42),
            pending: vec![SessionId::generate(), SessionId::generate()],
            map: Some(u64::MAX - 7),
            rescan: None,
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        let done = Cursor {
            position: Position::Done,
            pending: vec![SessionId::generate()],
            map: Some(0),
            rescan: None,
        };
        assert_eq!(Cursor::decode(&done.encode()).unwrap(), done);
        for rescan in [vec![], vec!["b".to_owned(), "c".to_owned()]] {
            let again = Cursor {
                rescan: Some(rescan),
                ..c.clone()
            };
            assert_eq!(Cursor::decode(&again.encode()).unwrap(), again);
        }
        let standalone = Cursor::start(&[master("", "")], 0);
        assert_eq!(Cursor::decode(&standalone.encode()).unwrap(), standalone);
        let version_1 = format!("1|b:1|9|{}", SessionId::generate());
        assert_eq!(Cursor::decode(&version_1).unwrap().encode(), version_1);
        for bad in [
            "",
            "2||0|",
            "1||x|",
            "1||0|nope",
            "1||0||extra",
            "2||0||",
            "2||0||xyz",
            "2||0||0|a|extra",
            "2||0||xyz|a",
            "3||0||0",
            "1||+9|",
            "2||+0||0",
            "2||0||+0",
            "2||0||-0",
        ] {
            assert!(
                matches!(Cursor::decode(bad), Err(StoreError::InvalidCursor(_))),
                "{bad:?}"
            );
        }
    }

    /// A version 1 cursor goes on where it was, and stays version 1 (by
    /// address, no map): its listing began in address order.
    #[test]
    fn a_version_1_cursor_goes_on_where_it_was() {
        let id = SessionId::generate();
        let text = format!("1|b:1|9|{id}");
        let c = Cursor::resume(Some(&text), &two(), 5).unwrap();
        assert_eq!(
            c,
            Cursor {
                position: at("b:1", 9),
                pending: vec![id],
                map: None,
                rescan: None,
            }
        );
        assert_eq!(c.encode(), text);
        // No restart on another map.
        assert_eq!(Cursor::resume(Some(&text), &two(), 6).unwrap(), c);
        assert_eq!(next_node(&route(&two(), true), "b:1"), Position::Done);
    }

    #[test]
    fn a_changed_slot_map_restarts_from_the_first_node() {
        let mut c = Cursor::start(&two(), 5);
        assert_eq!(c.position, at("a", 0));
        c.position = at("b", 9);
        c.pending = vec![SessionId::generate()];
        let text = c.encode();
        assert_eq!(Cursor::resume(Some(&text), &two(), 5).unwrap(), c);
        assert_eq!(
            Cursor::resume(Some(&text), &two(), 6).unwrap(),
            Cursor::start(&two(), 6)
        );
        // A master that left moves the map: its id, under another map,
        // starts over (under the same map, see the test below); a version 1
        // cursor's unknown address moves on to the next.
        assert_eq!(
            Cursor::resume(Some("2|gone|9||5"), &two(), 6).unwrap(),
            Cursor::start(&two(), 6)
        );
        let gone = "1|a:0|9|";
        assert_eq!(
            Cursor::resume(Some(gone), &two(), 5).unwrap().position,
            at("a:1", 0)
        );
    }

    /// Two nodes of one steady cluster may name a master by different
    /// addresses (`connection`'s fingerprint test has `10.0.0.2:7000` and
    /// `host-b:7000` for master `b` give the same map). A page whose node
    /// names the master otherwise than the last page's did must not take it
    /// for a departed node and skip the rest of its keys (here, and every
    /// master after it): the map is the same, so nothing left the cluster.
    #[test]
    fn a_master_named_by_another_address_under_the_same_map_is_not_skipped() {
        let map = 0x5eed;
        // The last page's node reported master b by its hostname, and the
        // page stopped part-way through b's keys.
        let seen_as_hostname = vec![master("a", "10.0.0.1:7000"), master("b", "host-b:7000")];
        let mut c = Cursor::start(&seen_as_hostname, map);
        c.position = next_node(&route(&seen_as_hostname, false), "a");
        assert_eq!(c.position, at("b", 0));
        c.position = at("b", 9);
        let text = c.encode();
        // This page's node reports b by its IP; the slot map is the same.
        let seen_as_ip = vec![master("a", "10.0.0.1:7000"), master("b", "10.0.0.2:7000")];
        let resumed = Cursor::resume(Some(&text), &seen_as_ip, map).unwrap();
        assert_eq!(
            resumed.position,
            at("b", 9),
            "master b's unscanned keys are skipped"
        );
        // Scanned at the address this page's node knows it by.
        assert!(
            route(&seen_as_ip, false)
                .iter()
                .any(|(name, m)| *name == "b" && m.address == "10.0.0.2:7000")
        );
    }

    /// `StoreError::InvalidCursor` is "a page cursor this store did not
    /// hand out", and conformance says such a cursor is "not taken for the
    /// first page". A version 2 cursor naming a master id the (unchanged)
    /// map does not hold is, by `resume`'s own comment, from no cursor the
    /// store made; in standalone mode (one master, id "") too.
    #[test]
    fn a_version_2_cursor_naming_no_master_of_the_map_is_refused() {
        for (text, masters, map) in [
            ("2|bogus|9||0000000000000005", two(), 5),
            ("2|bogus|0||0000000000000000", vec![master("", "")], 0),
        ] {
            let resumed = Cursor::resume(Some(text), &masters, map);
            assert!(
                matches!(resumed, Err(StoreError::InvalidCursor(ref c)) if c == text),
                "{text}: taken for {resumed:?}"
            );
        }
    }

    #[test]
    fn nodes_follow_in_order() {
        // In id order, whatever the addresses.
        let masters = vec![master("b", "a:1"), master("a", "b:1")];
        let by_id = route(&masters, false);
        let names = |route: &[(&str, &Master)]| -> Vec<(String, String)> {
            route
                .iter()
                .map(|(name, m)| ((*name).to_owned(), m.address.clone()))
                .collect()
        };
        assert_eq!(
            names(&by_id),
            [("a".into(), "b:1".into()), ("b".into(), "a:1".into())]
        );
        assert_eq!(next_node(&by_id, "a"), at("b", 0));
        assert_eq!(next_node(&by_id, "b"), Position::Done);
        let by_address = route(&masters, true);
        assert_eq!(next_node(&by_address, "a:1"), at("b:1", 0));
        let standalone = master("", "");
        assert_eq!(next_node(&[("", &standalone)], ""), Position::Done);
    }

    fn migration(slot: u16, from: &str, to: &str) -> Migration {
        Migration {
            slot,
            from: from.into(),
            to: to.into(),
        }
    }

    /// Only a target scanned before its source is scanned again, once.
    #[test]
    fn masters_a_slot_migrates_into_from_a_later_master_are_scanned_again() {
        let three = vec![master("a", "a:1"), master("b", "b:1"), master("c", "c:1")];
        let route = route(&three, false);
        assert_eq!(to_rescan(&route, &[]), Some(vec![]));
        assert_eq!(
            to_rescan(
                &route,
                &[
                    migration(1, "c", "a"),
                    migration(1, "c", "a"),
                    migration(2, "b", "a"),
                    migration(3, "a", "b"),
                ]
            ),
            Some(vec!["a".to_owned()])
        );
        assert_eq!(
            to_rescan(&route, &[migration(4, "c", "b")]),
            Some(vec!["b".to_owned()])
        );
        // Into a node that serves no slot yet: nothing to scan it by.
        assert_eq!(to_rescan(&route, &[migration(5, "a", "new")]), None);
    }

    /// The masters to scan again are computed at the listing's end: sorted,
    /// each once, none before the master being scanned again (the first is
    /// taken out as the position), never more than the map's masters. A
    /// cursor naming a master many times can only be forged, and each
    /// repeat costs a full SCAN of that master in one page call (a page
    /// drops ids it already listed, so repeats never fill it): refused.
    #[test]
    fn a_forged_list_of_masters_to_scan_again_is_refused() {
        let three = vec![master("a", "a:1"), master("b", "b:1"), master("c", "c:1")];
        for forged in [
            "2|a|0||0000000000000005|b,b".to_owned(),
            "2|b|0||0000000000000005|a".to_owned(),
            "2|a|0||0000000000000005|c,b".to_owned(),
            format!("2|a|0||0000000000000005|{}", vec!["a"; 10_000].join(",")),
        ] {
            let resumed = Cursor::resume(Some(&forged), &three, 5);
            assert!(
                matches!(resumed, Err(StoreError::InvalidCursor(_))),
                "{}: taken, with {} masters to scan again",
                &forged[..forged.len().min(40)],
                resumed
                    .map(|c| c.rescan.map_or(0, |r| r.len()))
                    .unwrap_or(0)
            );
        }
    }

    /// A cursor scanning masters again ends after the last of them, and
    /// names only masters of the map.
    #[test]
    fn the_masters_to_scan_again_follow_one_another_then_end() {
        let three = vec![master("a", "a:1"), master("b", "b:1"), master("c", "c:1")];
        let route = route(&three, false);
        let mut c = Cursor {
            position: at("a", 0),
            pending: vec![],
            map: Some(5),
            rescan: Some(vec!["b".into()]),
        };
        assert_eq!(Cursor::resume(Some(&c.encode()), &three, 5).unwrap(), c);
        c.advance(&route, "a");
        assert_eq!(c.position, at("b", 0));
        c.advance(&route, "b");
        assert!(c.is_finished());
        let forged = "2|a|0||0000000000000005|zz";
        assert!(matches!(
            Cursor::resume(Some(forged), &three, 5),
            Err(StoreError::InvalidCursor(_))
        ));
        // Another map starts over, with the migration check to come.
        assert_eq!(
            Cursor::resume(Some(forged), &three, 6).unwrap(),
            Cursor::start(&three, 6)
        );
    }
}

/// Page cursors come back from callers, `SCAN` replies from Redis: under
/// generated cases either is read or refused with a typed error, never a
/// panic, and a cursor that resumes names only masters the page can scan.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Node ids as Redis writes them (40 hex digits), short ones, and addresses.
    fn node() -> impl Strategy<Value = String> {
        prop_oneof!["[0-9a-f]{40}", "[a-c]", "[a-c]:[0-9]{1,5}"]
    }

    fn masters() -> impl Strategy<Value = Vec<Master>> {
        prop::collection::vec((node(), node()), 0..4).prop_map(|nodes| {
            nodes
                .into_iter()
                .map(|(id, address)| Master {
                    id,
                    address,
                    slot: 0,
                })
                .collect()
        })
    }

    prop_compose! {
        fn cursor()(
            node in prop::option::of(node()),
            at in any::<u64>(),
            pending in prop::collection::vec(any::<[u8; 16]>(), 0..4),
            map in prop::option::of(any::<u64>()),
            rescan in prop::option::of(prop::collection::vec(node(), 0..3)),
        ) -> Cursor {
            Cursor {
                position: node.map_or(Position::Done, |node| Position::Scan { node, cursor: at }),
                pending: pending.into_iter().map(SessionId::from_bytes).collect(),
                rescan: rescan.filter(|_| map.is_some()),
                map,
            }
        }
    }

    /// Cursor text: any, of the cursor's own characters, or a real cursor
    /// with one character replaced, cut short or a piece repeated.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,80}",
            "[12|,:a-c0-9-]{0,60}",
            (cursor(), any::<u8>(), any::<usize>(), "[|,:0-9a-z-]|.").prop_map(
                |(c, how, at, with)| {
                    let mut chars: Vec<char> = c.encode().chars().collect();
                    let at = at % chars.len();
                    match how % 3 {
                        0 => chars[at] = with.chars().next().unwrap_or('|'),
                        1 => chars.truncate(at),
                        _ => {
                            let tail = chars[at..].to_vec();
                            chars.splice(at..at, tail).for_each(drop);
                        }
                    }
                    chars.into_iter().collect()
                }
            ),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Nil),
            Just(Value::Okay),
            any::<i64>().prop_map(Value::Int),
            "[0-9]{1,22}|.{0,6}".prop_map(Value::SimpleString),
            "[0-9]{1,22}|.{0,6}".prop_map(|s| Value::BulkString(s.into_bytes())),
            prop::collection::vec(any::<u8>(), 0..12).prop_map(Value::BulkString),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(inner, 0..6).prop_map(Value::Set),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn cursors_round_trip(c in cursor()) {
            prop_assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        }

        #[test]
        fn any_text_as_a_cursor_resumes_on_a_known_master_or_is_invalid(
            text in text(),
            masters in masters(),
            map in prop_oneof![Just(0u64), any::<u64>()],
        ) {
            match Cursor::decode(&text) {
                Ok(_) => {}
                Err(error) => prop_assert!(matches!(error, StoreError::InvalidCursor(_))),
            }
            match Cursor::resume(Some(&text), &masters, map) {
                Ok(c) => {
                    let route = route(&masters, c.by_address());
                    let known = |node: &str| route.iter().any(|(name, _)| *name == node);
                    if let Position::Scan { node, .. } = &c.position {
                        prop_assert!(known(node), "resumed on {node:?}");
                    }
                    for node in c.rescan.iter().flatten() {
                        prop_assert!(known(node), "to scan {node:?} again");
                    }
                    prop_assert!(c.rescan.as_ref().is_none_or(|r| r.len() < masters.len()));
                }
                Err(error) => prop_assert!(matches!(error, StoreError::InvalidCursor(_))),
            }
        }

        #[test]
        fn any_reply_to_a_scan_is_read_or_refused(reply in value()) {
            let parts = reply::array(reply.clone());
            if let Some((next, keys)) = scan_reply(reply) {
                let parts = parts.unwrap();
                prop_assert_eq!(parts.len() >= 2, true);
                // Read as Redis writes it, or with leading zeros.
                let text = reply::text(parts[0].clone());
                prop_assert_eq!(text.and_then(|t| t.parse::<u64>().ok()), Some(next));
                prop_assert_eq!(reply::array(parts[1].clone()).map(|k| k.len()), Some(keys.len()));
            }
        }

        #[test]
        fn scan_replies_round_trip(
            next in any::<u64>(),
            keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 0..6),
        ) {
            let reply = Value::Array(vec![
                Value::BulkString(next.to_string().into_bytes()),
                Value::Array(keys.iter().cloned().map(Value::BulkString).collect()),
            ]);
            prop_assert_eq!(scan_reply(reply), Some((next, keys)));
        }
    }
}
