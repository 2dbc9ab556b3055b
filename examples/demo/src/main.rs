//! `demo`: the sessions demo server. `cargo run -p demo -- --help` for options.

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours on a terminal only: a log sent to a file or a pipe gets
        // plain text, without escape codes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A log line that cannot be written (the log's disk full) is lost;
        // reporting that on stderr too would panic, as stderr is the log.
        .log_internal_errors(false)
        .init();
    if let Err(error) = run(demo::Config::parse()).await {
        eprintln!("demo: {error}");
        std::process::exit(1);
    }
}

async fn run(config: demo::Config) -> Result<(), Box<dyn std::error::Error>> {
    let app = demo::app(&config).await?;
    for route in app.routes() {
        tracing::debug!(%route, "route");
    }
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|error| {
            let hint = match error.kind() {
                std::io::ErrorKind::AddrInUse => {
                    " (another server on this port? give another --addr; 127.0.0.1:0 picks a free port)"
                }
                _ => "",
            };
            format!("cannot listen on {}: {error}{hint}", config.addr)
        })?;
    // Tests and scripts read this line to find the port.
    println!("listening on http://{}", listener.local_addr()?);
    // One span per request, naming its method and path, around the
    // session layer's lines (not the headers: they hold the session cookie).
    let trace = tower_http::trace::TraceLayer::new_for_http().make_span_with(
        |request: &axum::http::Request<_>| {
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
        },
    );
    axum::serve(listener, app.into_router().layer(trace))
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        return;
    }
    let _ = ctrl_c.await;
}
