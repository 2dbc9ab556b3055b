//! Bad input and refused writes leave a line in the log (through `tracing`),
//! not only a fresh session or an error value.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Mutex, Once};

use session_tests::profile::Profile;

use crate::support::{env, service_like, token};

/// Everything logged on this thread while the guard lives.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

thread_local! {
    static SINK: RefCell<Option<Captured>> = const { RefCell::new(None) };
}

/// Writes to the capture of the thread logging, if it has one.
struct ThreadSink;

impl Write for ThreadSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        SINK.with(|sink| match &mut *sink.borrow_mut() {
            Some(captured) => captured.write(buf),
            None => Ok(buf.len()),
        })
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Ends the thread's capture.
struct CaptureGuard;

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        SINK.with(|sink| sink.borrow_mut().take());
    }
}

/// Captures what this thread logs. One global subscriber, installed once,
/// routes each line to its thread's capture: a scoped subscriber per test
/// would race other tests' threads for the log lines' cached interest.
fn capture() -> (Captured, CaptureGuard) {
    static GLOBAL: Once = Once::new();
    GLOBAL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(|| ThreadSink)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    });
    let captured = Captured::default();
    SINK.with(|sink| *sink.borrow_mut() = Some(captured.clone()));
    (captured, CaptureGuard)
}

#[tokio::test]
async fn a_tampered_token_is_logged() {
    let env = env();
    let (log, _guard) = capture();
    let cell = env.service.load(Some("garbage.token")).await.unwrap();
    assert!(!cell.lock().is_loaded());
    assert!(
        log.text().contains("session token refused"),
        "{}",
        log.text()
    );
}

#[tokio::test]
async fn stored_data_failing_its_check_is_logged_with_the_type() {
    let env = env();
    // Written around the typed handle, which refuses such data.
    let cell = env.service.load(None).await.unwrap();
    cell.lock().set_field("age", "151");
    let t = token(&env.service.persist(&cell).await.unwrap());
    let checked = service_like(&env, |b| b.check_data::<Profile>());
    let (log, _guard) = capture();
    let cell = checked.load(Some(&t)).await.unwrap();
    assert!(!cell.lock().is_loaded());
    let text = log.text();
    assert!(
        text.contains("stored session data is invalid") && text.contains("151"),
        "{text}"
    );
}

#[tokio::test]
async fn a_handle_dropped_with_a_value_that_would_not_read_back_is_logged() {
    #[session_axum::session_data]
    #[derive(Debug, Clone, Default)]
    pub struct Ratio {
        pub ratio: f64,
    }
    let env = env();
    let mut s = env.service.get::<Ratio>(None).await.unwrap();
    let cell = s.cell().clone();
    s.set_ratio(f64::NAN);
    let (log, _guard) = capture();
    drop(s);
    assert!(env.service.persist(&cell).await.is_err());
    let text = log.text();
    assert!(
        text.contains("session changes cannot be written") && text.contains("ratio"),
        "{text}"
    );
}

/// `SessionId`'s `Debug` shows only a prefix and `Key`'s nothing; the
/// values carrying a whole signed token (a credential) do not print it.
#[tokio::test]
async fn debug_output_of_values_carrying_a_token_does_not_show_the_token() {
    let env = env();
    let cell = env.service.load(None).await.unwrap();
    cell.lock().set_field("count", "1");
    let persisted = env.service.persist(&cell).await.unwrap();
    let t = token(&persisted);
    let debug = format!("{persisted:?}");
    assert!(!debug.contains(&t), "Persisted: {debug}");
    let logged_in = session_axum::LoggedIn {
        session_id: persisted.id.unwrap(),
        token: Some(t.clone()),
    };
    let debug = format!("{logged_in:?}");
    assert!(!debug.contains(&t), "LoggedIn: {debug}");
}
