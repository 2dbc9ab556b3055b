//! `list`: every live session, a page at a time, by `SCAN` over the session
//! hashes (on each master in turn in a cluster).
//!
//! The page cursor holds the node being scanned, its `SCAN` cursor and the
//! ids a `SCAN` step returned beyond the page's limit, so a page never
//! exceeds its limit and no id is returned twice because a step was split.
//! `SCAN` itself returns every key that exists for the whole iteration; a
//! key added or removed meanwhile may or may not be listed.
//!
//! In a cluster the cursor also holds a fingerprint of the slot map (which
//! master serves which slots). Slots that move between pages (a reshard, a
//! fail-over) may take their sessions from a master not yet scanned to one
//! already scanned, so a page that finds another map scans every master
//! again from the first: sessions are listed again rather than missed. A
//! restart only follows a change, so a listing finishes once the map holds
//! still between its pages. Keys that a slot migration still under way when
//! the listing ends has already moved (the map changes when the slot's
//! owner does, after its keys) can still be missed.
//!
//! `SCAN` may also return a key twice: when the database's table shrinks
//! between steps (Redis resizes it after many keys went), the cursor goes
//! over buckets it had seen. A page drops repeats; across pages they stay,
//! since telling them apart would take the ids of every earlier page in the
//! cursor, or an index of all sessions written by every create, refresh and
//! delete.

use std::collections::HashSet;

use redis::Value;
use session_core::{Page, PageRequest, SessionId, SessionInfo, StoreError};

use crate::codec::Listed;
use crate::connection::ScanNodes;
use crate::error::unexpected;
use crate::reply;
use crate::store::RedisStore;

/// Most keys one `SCAN` step is asked to look at.
const MAX_SCAN_COUNT: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
enum Position {
    /// The next `SCAN` runs on `node` from `cursor`.
    Scan { node: String, cursor: u64 },
    /// Every node has been scanned.
    Done,
}

#[derive(Debug, Clone, PartialEq)]
struct Cursor {
    position: Position,
    pending: Vec<SessionId>,
    /// The slot map fingerprint when the cursor was made (`None` from a
    /// version 1 cursor, which had none).
    map: Option<u64>,
}

impl Cursor {
    /// `2|<node>|<scan cursor>|<pending ids, comma separated>|<map, hex>`;
    /// version 1 had no map.
    const VERSION: &'static str = "2";

    fn start(nodes: &[String], map: u64) -> Self {
        Self {
            position: nodes.first().map_or(Position::Done, |node| Position::Scan {
                node: node.clone(),
                cursor: 0,
            }),
            pending: Vec::new(),
            map: Some(map),
        }
    }

    /// Where a page goes on from `text` (the first page's `None`), given the
    /// current masters and slot map.
    fn resume(text: Option<&str>, nodes: &[String], map: u64) -> Result<Self, StoreError> {
        let Some(text) = text else {
            return Ok(Self::start(nodes, map));
        };
        let mut cursor = Self::decode(text)?;
        if cursor.map.is_some_and(|was| was != map) {
            // Slots moved since the last page: sessions of a master not yet
            // scanned may now be on one already scanned.
            tracing::debug!(
                "the cluster's slot map changed during a listing; scanning every master again"
            );
            return Ok(Self::start(nodes, map));
        }
        cursor.map = Some(map);
        if let Position::Scan { node, .. } = &cursor.position
            && !nodes.contains(node)
        {
            // The node left the cluster (a failed-over master): it cannot be
            // scanned, so go on with the next one.
            cursor.position = next_node(nodes, node);
        }
        Ok(cursor)
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
        format!(
            "{}|{node}|{cursor}|{}|{:016x}",
            Self::VERSION,
            pending.join(","),
            self.map.unwrap_or(0)
        )
    }

    fn decode(text: &str) -> Result<Self, StoreError> {
        let bad = || StoreError::InvalidCursor(text.to_owned());
        let parts: Vec<&str> = text.split('|').collect();
        let (node, cursor, pending, map) = match parts.as_slice() {
            ["1", node, cursor, pending] => (*node, *cursor, *pending, None),
            [Self::VERSION, node, cursor, pending, map] => {
                let map = u64::from_str_radix(map, 16).map_err(|_| bad())?;
                (*node, *cursor, *pending, Some(map))
            }
            _ => return Err(bad()),
        };
        let cursor: u64 = cursor.parse().map_err(|_| bad())?;
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
        })
    }
}

/// The node after `node` in the sorted `nodes` (so a cursor naming a node
/// that left the cluster still moves on).
fn next_node(nodes: &[String], node: &str) -> Position {
    nodes
        .iter()
        .find(|n| n.as_str() > node)
        .map_or(Position::Done, |n| Position::Scan {
            node: n.clone(),
            cursor: 0,
        })
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
        let limit = page.limit.max(1);
        let now = self.now();
        let mut conn = self.conn().await?;
        let ScanNodes { nodes, map } = conn.scan_nodes().await.map_err(|e| self.err(e))?;
        let mut cursor = Cursor::resume(page.cursor.as_deref(), &nodes, map)?;
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
            let mut scan = redis::cmd("SCAN");
            scan.arg(*at)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(count)
                .arg("TYPE")
                .arg("hash");
            let reply = conn.scan(node, scan).await.map_err(|e| self.err(e))?;
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
            cursor.position = if next == 0 {
                next_node(&nodes, node)
            } else {
                Position::Scan {
                    node: node.clone(),
                    cursor: next,
                }
            };
            cursor.pending = ids;
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

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = Cursor {
            position: at("127.0.0.1:7000", 42),
            pending: vec![SessionId::generate(), SessionId::generate()],
            map: Some(u64::MAX - 7),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        let done = Cursor {
            position: Position::Done,
            pending: vec![SessionId::generate()],
            map: Some(0),
        };
        assert_eq!(Cursor::decode(&done.encode()).unwrap(), done);
        let standalone = Cursor::start(&[String::new()], 0);
        assert_eq!(Cursor::decode(&standalone.encode()).unwrap(), standalone);
        for bad in [
            "",
            "2||0|",
            "1||x|",
            "1||0|nope",
            "1||0||extra",
            "2||0||",
            "2||0||xyz",
            "2||0||0|extra",
            "3||0||0",
        ] {
            assert!(
                matches!(Cursor::decode(bad), Err(StoreError::InvalidCursor(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_version_1_cursor_goes_on_where_it_was() {
        let id = SessionId::generate();
        let nodes = vec!["a:1".to_owned(), "b:1".to_owned()];
        let c = Cursor::resume(Some(&format!("1|b:1|9|{id}")), &nodes, 5).unwrap();
        assert_eq!(
            c,
            Cursor {
                position: at("b:1", 9),
                pending: vec![id],
                map: Some(5),
            }
        );
    }

    #[test]
    fn a_changed_slot_map_restarts_from_the_first_node() {
        let nodes = vec!["a:1".to_owned(), "b:1".to_owned()];
        let mut c = Cursor::start(&nodes, 5);
        c.position = at("b:1", 9);
        c.pending = vec![SessionId::generate()];
        let text = c.encode();
        assert_eq!(Cursor::resume(Some(&text), &nodes, 5).unwrap(), c);
        assert_eq!(
            Cursor::resume(Some(&text), &nodes, 6).unwrap(),
            Cursor::start(&nodes, 6)
        );
        // A master that left moves the map; with the map unchanged (an old
        // cursor) its successor follows.
        let gone = "1|a:0|9|";
        assert_eq!(
            Cursor::resume(Some(gone), &nodes, 5).unwrap().position,
            at("a:1", 0)
        );
    }

    #[test]
    fn nodes_follow_in_order() {
        let nodes = vec!["a:1".to_owned(), "b:1".to_owned()];
        assert_eq!(
            next_node(&nodes, "a:1"),
            Position::Scan {
                node: "b:1".into(),
                cursor: 0
            }
        );
        assert_eq!(next_node(&nodes, "b:1"), Position::Done);
        assert_eq!(next_node(&[String::new()], ""), Position::Done);
    }
}
