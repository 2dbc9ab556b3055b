//! Automatic pipelining on the standalone connection: the commands that
//! requests send in the same turn of the runtime go to Redis in one write.
//!
//! The multiplexed connection writes each command as soon as its task runs,
//! and tokio runs a woken task next, so under load nearly every command cost
//! a write system call of its own (and, on the server, the kernel's delivery
//! of it). Here the first command of a turn starts a flush task that first
//! steps behind every task already runnable, so each of them adds its
//! command, then sends them all as one pipeline; replies come back in order
//! and go to their callers. Alone, a command waits only for the flush task
//! to be scheduled.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use redis::aio::MultiplexedConnection;
use redis::{Cmd, ErrorKind, RedisError, RedisResult, Value};
use tokio::sync::oneshot;

/// A reply, with the generation of the connection that carried it (for
/// [`Standalone::failed`](crate::connection::Standalone)).
pub(crate) type Reply = (u64, RedisResult<Value>);

/// Commands waiting for the flush task of the current turn.
#[derive(Default)]
pub(crate) struct Batcher {
    queue: Mutex<Queue>,
}

/// A command and where its reply goes.
type Queued = (Cmd, oneshot::Sender<Outcome>);

/// What a queued command's caller hears.
enum Outcome {
    Reply(Reply),
    /// Not sent: the flush task that was to send it was dropped before it
    /// took the queue (its runtime shut down), so the caller may queue it
    /// again.
    NotSent,
}

#[derive(Default)]
struct Queue {
    commands: Vec<Queued>,
    /// A flush task is scheduled and has not taken the queue yet.
    scheduled: bool,
    /// The newest connection a caller came with, and its generation: the
    /// flush sends on it, so that a caller still holding a connection
    /// replaced since (a call of several commands that began before a
    /// reconnect) never takes the others' commands onto the dead one.
    conn: Option<(u64, MultiplexedConnection)>,
}

fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    // Nothing under the lock can panic; a poisoned queue is still consistent.
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Batcher {
    /// Sends `cmd` with the commands of this turn, on the newest connection
    /// the callers came with (`conn` is the connection of `generation`).
    pub(crate) async fn send(
        self: &Arc<Self>,
        conn: &MultiplexedConnection,
        generation: u64,
        cmd: &Cmd,
    ) -> Reply {
        // Queued again as long as another runtime's flush task was dropped
        // before it sent it; this caller's own flush task dropped means its
        // own runtime is shutting down.
        loop {
            let (tx, rx) = oneshot::channel();
            let start = {
                let mut queue = lock(&self.queue);
                queue.commands.push((cmd.clone(), tx));
                if queue.conn.as_ref().is_none_or(|(g, _)| *g < generation) {
                    queue.conn = Some((generation, conn.clone()));
                }
                !std::mem::replace(&mut queue.scheduled, true)
            };
            if start {
                tokio::spawn(Scheduled(Some(Arc::clone(self))).flush());
            }
            match rx.await {
                Ok(Outcome::Reply(reply)) => return reply,
                // Another runtime's flush task, dropped as it shut down.
                Ok(Outcome::NotSent) if !start => {}
                // Another runtime's flush task, dropped while it sent: the
                // command may have run, as on a connection lost under it (a
                // load is sent again, on a new connection).
                Err(_) if !start => {
                    let error = std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "the pipeline task was stopped while it sent (its runtime shut down)",
                    );
                    return (generation, Err(RedisError::from(error)));
                }
                // This caller's own flush task: its runtime is shutting down.
                Ok(Outcome::NotSent) | Err(_) => break,
            }
        }
        let error = RedisError::from((ErrorKind::Client, "the pipeline task was stopped"));
        (generation, Err(error))
    }

    /// Takes the queued commands, and the connection to send them on,
    /// clearing `scheduled`: the next command starts another flush.
    fn take(&self) -> (Vec<Queued>, Option<(u64, MultiplexedConnection)>) {
        let mut queue = lock(&self.queue);
        queue.scheduled = false;
        (std::mem::take(&mut queue.commands), queue.conn.clone())
    }
}

/// A flush task that has not taken the queue yet. Dropped before it does
/// (its runtime shut down), it clears `scheduled`, else no later command
/// would start a flush, and tells the queued commands' callers that theirs
/// was not sent: one on a runtime that still runs queues it again, under a
/// flush task of its own runtime.
struct Scheduled(Option<Arc<Batcher>>);

impl Drop for Scheduled {
    fn drop(&mut self) {
        if let Some(batcher) = self.0.take() {
            for (_, caller) in batcher.take().0 {
                let _ = caller.send(Outcome::NotSent);
            }
        }
    }
}

impl Scheduled {
    async fn flush(mut self) {
        // Every request task runnable now queues its command first.
        BehindRunnable::default().await;
        let Some(batcher) = self.0.take() else {
            return;
        };
        let (commands, conn) = batcher.take();
        // Set by the push that scheduled this flush.
        let Some((generation, mut conn)) = conn else {
            return;
        };
        let count = commands.len();
        let mut pipe = redis::pipe();
        let mut callers = Vec::with_capacity(count);
        for (cmd, caller) in commands {
            pipe.add_command(cmd);
            callers.push(caller);
        }
        let replies = match conn.send_packed_commands(&pipe, 0, count).await {
            Ok(replies) if replies.len() != count => Err(RedisError::from((
                ErrorKind::Client,
                "pipeline reply count mismatch",
                format!("{} replies to {count} commands", replies.len()),
            ))),
            replies => replies,
        };
        // A caller that went away no longer needs its reply.
        match replies {
            Ok(replies) => {
                for (caller, reply) in callers.into_iter().zip(replies) {
                    let _ = caller.send(Outcome::Reply((generation, Ok(reply))));
                }
            }
            Err(error) => {
                for caller in callers {
                    let _ = caller.send(Outcome::Reply((generation, Err(error.clone()))));
                }
            }
        }
    }
}

/// Pending once, having woken itself: tokio then puts the task at the back of
/// its worker's run queue, behind every task already runnable.
/// `tokio::task::yield_now` would also wait for the next poll of the I/O
/// driver and the tasks that poll wakes, which delays the batch by a second
/// round of requests.
#[derive(Default)]
struct BehindRunnable {
    requeued: bool,
}

impl Future for BehindRunnable {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.requeued {
            return Poll::Ready(());
        }
        self.requeued = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use session_tests::redis::{RedisServer, available};

    use super::*;

    #[tokio::test]
    async fn a_caller_on_a_replaced_connection_does_not_take_the_batch_onto_it() {
        if !available() {
            return;
        }
        let server = RedisServer::start(&[]);
        let client = redis::Client::open(server.url()).expect("url");
        let mut old = client
            .get_multiplexed_async_connection()
            .await
            .expect("old");
        let new = client
            .get_multiplexed_async_connection()
            .await
            .expect("new");
        let old_id: i64 = redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut old)
            .await
            .expect("CLIENT ID");
        let mut admin = new.clone();
        let _: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(old_id)
            .query_async(&mut admin)
            .await
            .expect("CLIENT KILL");
        let deadline = Instant::now() + Duration::from_secs(5);
        while redis::cmd("PING")
            .query_async::<String>(&mut old)
            .await
            .is_ok()
        {
            assert!(Instant::now() < deadline, "the old connection still works");
        }

        let batcher = Arc::new(Batcher::default());
        let ping = redis::cmd("PING");
        // The caller with the replaced connection queues first, and both
        // go out in one flush.
        let (stale, fresh) =
            tokio::join!(batcher.send(&old, 1, &ping), batcher.send(&new, 2, &ping));
        assert_eq!(fresh.0, 2);
        assert_eq!(
            fresh.1.expect("sent on the new connection"),
            Value::SimpleString("PONG".into())
        );
        assert_eq!(stale.0, 2, "carried by the new connection");
        assert!(stale.1.is_ok());
        server.stop();
    }
}
