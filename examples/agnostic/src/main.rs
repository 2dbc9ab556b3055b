//! authsessions' quick start, on `session-core` alone (no web framework):
//! create sessions with a user id, label and meta, turn them into bearer
//! tokens and back, read user id and meta, list a user's sessions and every
//! session, destroy one. Prints what each call returned.

use session_core::{Binding, Key, MemoryStore, PageRequest, SessionError, SessionService};

/// `println!` that ends the program quietly once stdout is closed
/// (`agnostic | head -3`) instead of panicking on the broken pipe, and
/// fails with a message when the output is lost otherwise (a full disk).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = writeln!(std::io::stdout(), $($arg)*) {
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("agnostic: cannot write the output: {error}");
            std::process::exit(1);
        }
    }};
}

const USAGE: &str = "usage: agnostic\n\nRuns authsessions' quick start on session-core alone (in-memory store,\nfresh key) and prints what each call returned. Takes no arguments.";

#[tokio::main]
async fn main() -> Result<(), SessionError> {
    if let Some(arg) = std::env::args_os().nth(1) {
        if arg == "-h" || arg == "--help" {
            say!("{USAGE}");
            return Ok(());
        }
        eprintln!("agnostic: unexpected argument {arg:?}\n\n{USAGE}");
        std::process::exit(2);
    }
    // "Creating Session Stores": the in-memory store (Redis and file stores plug in the same way).
    let sessions = SessionService::builder()
        .store(MemoryStore::new())
        .key(Key::generate())
        .build()?;

    // "Creating sessions and getting tokens."
    let laptop = sessions
        .create_session(
            Binding::user("user-1")
                .with_label("laptop")
                .with_meta(serde_json::json!({"agent": {"name": "firefox", "version": [128, 0]}})),
        )
        .await?;
    let phone = sessions
        .create_session(Binding::user("user-1").with_label("phone"))
        .await?;
    sessions
        .create_session(Binding::user("user-2").with_label("desktop"))
        .await?;
    let header = sessions.bearer_for(&laptop);
    say!("token header: {}", header.split_at(7).0);

    // "Getting session from request header."
    let session = sessions.session_id_from_bearer(Some(&header));
    say!(
        "token resolves to the laptop session: {}",
        session == Some(laptop)
    );
    say!(
        "garbage header resolves to: {:?}",
        sessions.session_id_from_bearer(Some("Bearer garbage"))
    );

    // "Getting Session Information."
    let user_id = sessions.user_id(&laptop).await?;
    let meta = sessions.meta(&laptop).await?;
    say!("user id: {}", user_id.as_deref().unwrap_or("-"));
    say!("meta: {}", meta.map(|m| m.to_string()).unwrap_or_default());

    // "Listing sessions of a given user."
    // Most recently used first; sorted by label here so the output is stable.
    let mine = sessions.list_for_user("user-1").await?;
    let mut labels: Vec<_> = mine.iter().filter_map(|s| s.label.as_deref()).collect();
    labels.sort_unstable();
    say!("user-1 sessions: {}", labels.join(", "));

    // "Listing all sessions in the system."
    let all = sessions.list(PageRequest::first(100)).await?;
    say!("all sessions: {}", all.items.len());

    // "Destroying sessions."
    say!(
        "destroyed phone: {}",
        sessions.destroy_session(&phone).await?
    );
    say!(
        "destroyed phone again: {}",
        sessions.destroy_session(&phone).await?
    );
    let mine = sessions.list_for_user("user-1").await?;
    let labels: Vec<_> = mine.iter().filter_map(|s| s.label.as_deref()).collect();
    say!("user-1 sessions after destroy: {}", labels.join(", "));
    say!(
        "phone user id after destroy: {:?}",
        sessions.user_id(&phone).await?
    );
    Ok(())
}
