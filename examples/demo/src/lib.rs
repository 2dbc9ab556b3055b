//! The demo server: the five seeds' samples on one app.
//!
//! - Every route: Travetto auth-session's interceptor cycle (load, get or
//!   create, persist what changed), run by `SessionInterceptor` after the
//!   auth interceptor; the app builder logs the order at start.
//! - `GET /`: astro-session's visit counter.
//! - `GET /login`, `POST /login`: astro-session's login with an error flash;
//!   a browser sent there from a page that needs a login goes back to it
//!   once logged in. `POST /logout` ends it, the login page saying so once;
//!   `POST /api/login` and `GET /dashboard` are the seed's own endpoint and
//!   page (a 302 to `/me`).
//! - `POST /api/token`: a bearer token for API clients (authsessions).
//! - Every login: at most one password hash per CPU at a time, and a user
//!   name with five failed attempts in 15 minutes is refused until they
//!   pass (`throttle`).
//! - `PUT /session/info`, `GET /session/info/age`, `GET /session/logout`:
//!   Travetto's `SessionRoutes`, authenticated.
//! - `GET /me`: hexancore's tracked session data with `authenticated` and `group`.
//! - `GET /me/sessions`, `DELETE /me/sessions/{handle}`,
//!   `POST /me/sessions/revoke-others`: authsessions' listing and revocation.
//! - Every answer: `X-Frame-Options`, `Content-Security-Policy:
//!   frame-ancestors 'none'`, `nosniff` and `Referrer-Policy`, from an app
//!   interceptor ordered before the auth interceptor (`security_headers`).

pub mod config;
pub mod data;
pub mod routes;
pub mod security_headers;
pub mod throttle;
pub mod users;

use std::sync::Arc;

use session_axum::App;
use session_core::{SigningKeys, SystemClock};

pub use config::{Config, SigningKey, StartError, StoreKind};

/// Builds the app for `config`.
pub async fn app(config: &Config) -> Result<App, Box<dyn std::error::Error>> {
    // The key file is read before the store opens (a bad one should not
    // leave a new store file behind), and a new key saved only once the
    // store is up (a store that does not start should not leave a key file).
    let key = config.key()?;
    let store = config.store().await?;
    let per_user_index = store.capabilities().user_index;
    let checks = routes::login::LoginChecks {
        passwords: users::PasswordChecks::per_cpu(),
        throttle: throttle::LoginThrottle::new(
            throttle::ThrottleLimits::default(),
            Arc::new(SystemClock),
        ),
    };
    tracing::debug!(bound = checks.passwords.bound(), "password checks at once");
    let builder = App::builder()
        .keys(&SigningKeys::new(key.keep()?)?)
        .shared_store(store)
        .secure(config.secure)
        .cookie_name(config.cookie_name())
        // A browser asking for a page that needs a login gets the login
        // form (and comes back after it); API clients still get a 401.
        .login_page("/login")
        // hexancore's rule: stored account data that does not decode (its
        // `field` not a string) means no session for the request, its login
        // included.
        .check_data::<data::Account>()
        // The logins share one bound on password hashes and one throttle.
        .provide(checks);
    // The store's cap refuses only new anonymous sessions; this bounds the
    // ones logins make. The cookie store keeps nothing to bound.
    let builder = if per_user_index {
        builder.max_sessions_per_user(MAX_SESSIONS_PER_USER)
    } else {
        builder
    };
    Ok(builder.build()?)
}

/// The most sessions one user keeps (server-side stores): a login past it
/// ends the user's least recently used one.
pub const MAX_SESSIONS_PER_USER: usize = 20;
