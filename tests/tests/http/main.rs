//! session-axum over real HTTP: a server bound on 127.0.0.1, a client with
//! real cookies and bearer headers, stores observed directly.

mod app;
mod auth;
mod authenticators;
mod bad_input;
mod challenges;
mod cookie_safety;
mod cookie_store;
mod cookie_store_sealing;
mod cross_origin;
mod expiry;
mod failures;
mod fast_path;
mod gone_users;
mod lifecycle;
mod login_page;
mod macros;
mod ordering;
mod routes;
mod runtime;
mod security;
mod seeds;
mod session_end;
mod spans;
mod untrusted;
mod values;
mod websocket;
