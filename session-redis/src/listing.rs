//! `list`: every live session, a page at a time, by `SCAN` over the session
//! hashes (on each master in turn in a cluster).
//!
//! The page cursor holds the node being scanned, its `SCAN` cursor and the
//! ids a `SCAN` step returned beyond the page's limit, so a page never
//! exceeds its limit and no id is returned twice because a step was split.
//! `SCAN` itself returns every key that exists for the whole iteration; a
//! key added or removed meanwhile may or may not be listed.
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
}

impl Cursor {
    const VERSION: &'static str = "1";

    fn start(nodes: &[String]) -> Self {
        Self {
            position: nodes.first().map_or(Position::Done, |node| Position::Scan {
                node: node.clone(),
                cursor: 0,
            }),
            pending: Vec::new(),
        }
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
        format!("{}|{node}|{cursor}|{}", Self::VERSION, pending.join(","))
    }

    fn decode(text: &str) -> Result<Self, StoreError> {
        let bad = || StoreError::Corrupt(format!("bad page cursor {text:?}"));
        let mut parts = text.split('|');
        let (Some(Self::VERSION), Some(node), Some(cursor), Some(pending), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
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
        Ok(Self { position, pending })
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
        let nodes = conn.scan_nodes().await.map_err(|e| self.err(e))?;
        let mut cursor = match page.cursor.as_deref() {
            None => Cursor::start(&nodes),
            Some(text) => Cursor::decode(text)?,
        };
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

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = Cursor {
            position: Position::Scan {
                node: "127.0.0.1:7000".into(),
                cursor: 42,
            },
            pending: vec![SessionId::generate(), SessionId::generate()],
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        let done = Cursor {
            position: Position::Done,
            pending: vec![SessionId::generate()],
        };
        assert_eq!(Cursor::decode(&done.encode()).unwrap(), done);
        let standalone = Cursor::start(&[String::new()]);
        assert_eq!(Cursor::decode(&standalone.encode()).unwrap(), standalone);
        for bad in ["", "2||0|", "1||x|", "1||0|nope", "1||0||extra"] {
            assert!(
                matches!(Cursor::decode(bad), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
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
