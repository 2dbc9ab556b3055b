use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::{Extension, Router};
use cookie::SameSite;
use session_core::clock::SharedClock;
use session_core::service::SessionServiceBuilder;
use session_core::{
    ExpiryPolicy, InvalidDataPolicy, Key, SessionData, SessionId, SessionRecord, SessionService,
    SessionStore, SigningKeys,
};

use super::routes::{build_routes, guarded};
use super::{App, AppContext, BuildError, WebConfig};
use crate::controller::{Controller, ControllerRegistration};
use crate::cross_origin::CrossOriginCheck;
use crate::error::{Challenges, DEFAULT_REALM, MAX_REALM_LEN};
use crate::interceptor::{
    Interceptor, InterceptorLayer, InterceptorRef, InterceptorRegistration, Steps,
    UnregisteredInterceptor, display_name, resolve_order,
};
use crate::login_page::LoginPage;
use crate::session_interceptor::AuthThenSession;
use crate::{AuthInterceptor, Authenticator, CookieConfig, SessionInterceptor};

/// Configures an [`App`]. Required: a store and at least one key.
///
/// ```
/// use session_axum::{App, Key, MemoryStore};
///
/// let app = App::builder()
///     .store(MemoryStore::new())
///     .secret(Key::generate())
///     .secure(false) // plain-HTTP development only
///     .build()
///     .unwrap();
/// assert_eq!(app.interceptor_order()[..2], ["AuthInterceptor", "SessionInterceptor"]);
/// let router: axum::Router = app.into_router();
/// ```
pub struct AppBuilder {
    store: Option<Arc<dyn SessionStore>>,
    keys: Vec<Key>,
    cookie: CookieConfig,
    bearer: bool,
    realm: String,
    login_page: Option<String>,
    cross_origin: bool,
    trusted_origins: Vec<String>,
    cross_origin_exempt: Vec<String>,
    expiry: ExpiryPolicy,
    clock: Option<SharedClock>,
    invalid_data: InvalidDataPolicy,
    last_seen_interval: Option<Duration>,
    moved_grace: Duration,
    max_sessions_per_user: Option<usize>,
    data_checks: Vec<fn(SessionServiceBuilder) -> SessionServiceBuilder>,
    authenticators: Vec<Arc<dyn Authenticator>>,
    provided: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    extensions: Vec<fn(Router, &AppContext) -> Router>,
    use_registry: bool,
    interceptors: Vec<&'static InterceptorRegistration>,
    controllers: Vec<&'static ControllerRegistration>,
    extra: Router,
}

impl Default for AppBuilder {
    fn default() -> Self {
        Self {
            store: None,
            keys: Vec::new(),
            cookie: CookieConfig::default(),
            bearer: true,
            realm: DEFAULT_REALM.to_owned(),
            login_page: None,
            cross_origin: true,
            trusted_origins: Vec::new(),
            cross_origin_exempt: Vec::new(),
            expiry: ExpiryPolicy::default(),
            clock: None,
            invalid_data: InvalidDataPolicy::default(),
            last_seen_interval: Some(session_core::service::DEFAULT_LAST_SEEN_INTERVAL),
            moved_grace: session_core::service::DEFAULT_MOVED_GRACE,
            max_sessions_per_user: None,
            data_checks: Vec::new(),
            authenticators: Vec::new(),
            provided: HashMap::new(),
            extensions: Vec::new(),
            use_registry: true,
            interceptors: Vec::new(),
            controllers: Vec::new(),
            extra: Router::new(),
        }
    }
}

impl std::fmt::Debug for AppBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppBuilder")
            .field("store", &self.store)
            .field("cookie", &self.cookie)
            .field("bearer", &self.bearer)
            .field("realm", &self.realm)
            .field("login_page", &self.login_page)
            .field("cross_origin", &self.cross_origin)
            .field("trusted_origins", &self.trusted_origins)
            .field("cross_origin_exempt", &self.cross_origin_exempt)
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

impl AppBuilder {
    /// The session store.
    pub fn store(mut self, store: impl SessionStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// A session store already shared (for example with a background job).
    pub fn shared_store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Adds a signing key. The first key signs; every key verifies, so
    /// rotating means adding the new key first and keeping the old ones
    /// (with several instances, in two deploys: see
    /// [`SigningKeys`](crate::SigningKeys)).
    pub fn secret(mut self, key: Key) -> Self {
        self.keys.push(key);
        self
    }

    /// Adds every key of a list, first key first.
    pub fn keys(mut self, keys: &SigningKeys) -> Self {
        self.keys.extend(keys.all().iter().cloned());
        self
    }

    /// The cookie name (default `id`); it is bound into token signatures.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie.name = name.into();
        self
    }

    /// `Secure` on the cookie (default on). Turn off only for plain-HTTP development.
    pub fn secure(mut self, secure: bool) -> Self {
        self.cookie.secure = secure;
        self
    }

    /// `SameSite` on the cookie (default `Lax`).
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.cookie.same_site = same_site;
        self
    }

    /// Every cookie attribute at once: replaces what earlier calls of
    /// `cookie_name`, `secure` or `same_site` set (call those after it).
    pub fn cookie(mut self, cookie: CookieConfig) -> Self {
        self.cookie = cookie;
        self
    }

    /// Whether `Authorization: Bearer <token>` is accepted (default on).
    /// Client-side stores ([`CookieStore`](session_core::CookieStore)) take
    /// no bearer tokens whatever this says: their session lives in the
    /// cookie, and a bearer client would never receive a changed one.
    ///
    /// It also decides the framework's `WWW-Authenticate` challenges: on,
    /// every 401 carries `Bearer realm="session"` (with
    /// `error="invalid_token"` when the request's bearer token was refused),
    /// and a 403 to a bearer request `error="insufficient_scope"`; off, none
    /// is sent. See [`BearerStatus`](crate::BearerStatus), and
    /// [`realm`](Self::realm) for another realm.
    pub fn bearer(mut self, on: bool) -> Self {
        self.bearer = on;
        self
    }

    /// The longest realm [`realm`](Self::realm) takes, in bytes.
    pub const MAX_REALM_LEN: usize = MAX_REALM_LEN;

    /// Sends a browser that a route turns away for want of a login (a
    /// `#[authenticated]` route, a handler extracting [`Principal`](crate::Principal),
    /// [`Auth::require`](crate::Auth::require)) to the login page at `path`
    /// with `303 See Other`, instead of the 401: to `path?next=<the page it
    /// asked for>`, path and query, percent-encoded. The login handler
    /// passes `next` through [`local_redirect`](crate::local_redirect) and
    /// redirects there once the login succeeds.
    ///
    /// Only a browser navigating gets the redirect: a `GET` or `HEAD`
    /// without an `Authorization` header, asking for HTML (`Accept:
    /// text/html`), and, where the browser says how it sent the request,
    /// `Sec-Fetch-Mode: navigate`. Scripts, API and bearer clients, and
    /// other methods still get the 401 with its challenge; a 403 (a
    /// permission missing) stays a 403; a 401 a handler built itself is
    /// left alone. `path` is a path on this site, possibly with a query; a
    /// request for the login page itself is not redirected.
    ///
    /// ```
    /// use session_axum::{App, Key, core::MemoryStore};
    ///
    /// let app = App::builder()
    ///     .store(MemoryStore::new())
    ///     .secret(Key::generate())
    ///     .login_page("/login")
    ///     .build()
    ///     .unwrap();
    /// # let _ = app;
    /// assert!(App::builder().store(MemoryStore::new()).secret(Key::generate())
    ///     .login_page("https://elsewhere.example/login").build().is_err());
    /// ```
    pub fn login_page(mut self, path: impl Into<String>) -> Self {
        self.login_page = Some(path.into());
        self
    }

    /// Whether writes a browser sends from another origin are refused (on
    /// by default): a request other than `GET`, `HEAD` and `OPTIONS` (a
    /// `POST`, `PUT`, `PATCH`, `DELETE`) whose `Sec-Fetch-Site` is not
    /// `same-origin` (or `none`: the user's own doing), or, from a browser
    /// too old to send that, whose `Origin` names another host than the
    /// request's, gets 403 `{"error": "cross-origin request refused"}`
    /// before any interceptor runs (none, not even one ordered before the
    /// [`AuthInterceptor`](crate::AuthInterceptor), can act on a forged
    /// write), and an `info` log line. This stops cross-site request forgery that
    /// `SameSite=Lax` leaves open: another site's form logging the browser
    /// in to the attacker's account, and forms on sibling subdomains, which
    /// count as the same site. A WebSocket handshake is a `GET` that opens
    /// a socket writing with the browser's cookies: it is checked as a
    /// write (cross-site WebSocket hijacking). Reads, requests with a
    /// `Bearer` token while the app takes them (the token, not the cookie,
    /// says who they are; a form cannot add one, script on another origin
    /// only once the app's CORS allows it) and clients that send neither
    /// header (`curl`, servers) pass; `Basic` credentials, which browsers
    /// add by themselves, pass nothing. Origins the app serves pages from
    /// elsewhere are named with [`trusted_origin`](Self::trusted_origin),
    /// paths that take posts from other sites (a SAML or `form_post`
    /// OpenID callback, a payment return) with
    /// [`cross_origin_exempt`](Self::cross_origin_exempt). Like
    /// `SameSite`, it relies on reads not changing anything: a `GET` that
    /// logs out can still be triggered from any site. Behind a proxy that
    /// rewrites `Host`, browsers that send no `Sec-Fetch-Site` (old ones,
    /// and any on a plain-HTTP site other than `localhost`) have their
    /// writes refused unless their origin is trusted.
    ///
    /// ```
    /// use session_axum::{App, Key, MemoryStore};
    ///
    /// let app = App::builder()
    ///     .store(MemoryStore::new())
    ///     .secret(Key::generate())
    ///     .cross_origin_protection(false) // a public form endpoint, say
    ///     .build()
    ///     .unwrap();
    /// # let _ = app;
    /// ```
    pub fn cross_origin_protection(mut self, on: bool) -> Self {
        self.cross_origin = on;
        self
    }

    /// An origin whose pages may send writes here (see
    /// [`cross_origin_protection`](Self::cross_origin_protection)): a
    /// scheme, a host and an optional port, as browsers send it in
    /// `Origin`, such as `https://admin.example.com`. Compared without
    /// regard to case. [`build`](Self::build) refuses anything else
    /// ([`BuildError::TrustedOrigin`]).
    ///
    /// ```
    /// use session_axum::{App, BuildError, Key, MemoryStore};
    ///
    /// let builder = || App::builder().store(MemoryStore::new()).secret(Key::generate());
    /// assert!(builder().trusted_origin("https://admin.example.com").build().is_ok());
    /// assert!(matches!(
    ///     builder().trusted_origin("https://admin.example.com/").build(),
    ///     Err(BuildError::TrustedOrigin(_))
    /// ));
    /// ```
    pub fn trusted_origin(mut self, origin: impl Into<String>) -> Self {
        self.trusted_origins.push(origin.into());
        self
    }

    /// A path that takes writes from any site, past
    /// [`cross_origin_protection`](Self::cross_origin_protection): an
    /// identity provider's SAML or `form_post` callback, a payment
    /// provider's return, which browsers post from the provider's page
    /// (some with `Origin: null`). The path the client sent must equal it
    /// (no query, no prefix match; under `Router::nest` with the nest's
    /// prefix, as for [`login_page`](Self::login_page)). Such a route must
    /// check what it is sent itself (the assertion's signature, the OpenID
    /// `state`).
    /// [`build`](Self::build) refuses a path not starting with `/`
    /// ([`BuildError::TrustedOrigin`]).
    ///
    /// ```
    /// use session_axum::{App, Key, MemoryStore};
    ///
    /// let app = App::builder()
    ///     .store(MemoryStore::new())
    ///     .secret(Key::generate())
    ///     .cross_origin_exempt("/auth/saml/acs")
    ///     .build();
    /// assert!(app.is_ok());
    /// ```
    pub fn cross_origin_exempt(mut self, path: impl Into<String>) -> Self {
        self.cross_origin_exempt.push(path.into());
        self
    }

    /// The realm the `WWW-Authenticate` challenges name (default
    /// `session`): `Bearer realm="<realm>"`. It is sent as it is, so
    /// [`build`](Self::build) refuses one a quoted-string cannot carry
    /// unescaped ([`BuildError::Realm`]): empty, longer than
    /// [`MAX_REALM_LEN`](Self::MAX_REALM_LEN) bytes, or holding a control
    /// character, `"`, `\` or anything outside ASCII. The header values
    /// are built then, once.
    ///
    /// ```
    /// use session_axum::{App, BuildError, Key, MemoryStore, RealmError};
    ///
    /// let built = App::builder()
    ///     .store(MemoryStore::new())
    ///     .secret(Key::generate())
    ///     .realm("say \"hi\"")
    ///     .build();
    /// assert!(matches!(
    ///     built,
    ///     Err(BuildError::Realm(RealmError::Unescaped { at: 4, found: '"' }))
    /// ));
    /// ```
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// The whole expiry policy: replaces what earlier calls of the lifetime,
    /// threshold and absolute-limit setters set (call those after it).
    pub fn expiry(mut self, expiry: ExpiryPolicy) -> Self {
        self.expiry = expiry;
        self
    }

    /// Lifetime of used or logged-in sessions (default 6 h).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.expiry.lifetime = lifetime;
        self
    }

    /// Lifetime of fresh anonymous sessions (default 5 min).
    pub fn initial_lifetime(mut self, lifetime: Duration) -> Self {
        self.expiry.initial_lifetime = lifetime;
        self
    }

    /// Share of the lifetime below which a request refreshes expiry (default 0.5).
    pub fn refresh_threshold(mut self, share: f64) -> Self {
        self.expiry.refresh_threshold = share;
        self
    }

    /// Hard limit on a session's age, whatever its activity.
    pub fn absolute_lifetime(mut self, limit: Duration) -> Self {
        self.expiry.absolute = Some(limit);
        self
    }

    /// The clock of the session service (tests use a `MockClock`). The store
    /// keeps its own: build it on the same clock, or expiry decisions of the
    /// two disagree.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// What to do with stored data that fails to decode or validate.
    pub fn invalid_data(mut self, policy: InvalidDataPolicy) -> Self {
        self.invalid_data = policy;
        self
    }

    /// How stale a logged-in session's last use may get before a request
    /// that only reads it records it (see
    /// [`SessionServiceBuilder::last_seen_interval`]; default a minute).
    pub fn last_seen_interval(mut self, interval: Duration) -> Self {
        self.last_seen_interval = Some(interval);
        self
    }

    /// Records a session's use only with its writes and expiry refreshes
    /// (see [`SessionServiceBuilder::no_last_seen_on_reads`]).
    pub fn no_last_seen_on_reads(mut self) -> Self {
        self.last_seen_interval = None;
        self
    }

    /// How long a session moved by a login or rotation leaves a marker under
    /// a key derived from its old id,
    /// so that a request the browser sent with the old cookie before the
    /// login's answer came back does not log it out (see
    /// [`SessionServiceBuilder::moved_grace`]; default a minute,
    /// `Duration::ZERO` for none).
    pub fn moved_grace(mut self, grace: Duration) -> Self {
        self.moved_grace = grace;
        self
    }

    /// The most sessions one user keeps: a login that takes a user past it
    /// ends that user's least recently used sessions (see
    /// [`SessionServiceBuilder::max_sessions_per_user`]; no limit by
    /// default). [`build`](Self::build) fails for a store without a
    /// per-user index (the cookie store) and for 0.
    pub fn max_sessions_per_user(mut self, max: usize) -> Self {
        self.max_sessions_per_user = Some(max);
        self
    }

    /// Checks every loaded session's data as `T` before the principal is
    /// established, so that data failing to decode or validate means no
    /// session for the whole request (no user either: guarded routes answer
    /// 401; a logout in a route that needs no principal, or the next login,
    /// still deletes the record). Under [`InvalidDataPolicy::Fail`], handlers
    /// that read the session's data fail as well. Without it only a handler
    /// reading `T` finds out, and the login stays in use. See
    /// [`SessionServiceBuilder::check_data`].
    pub fn check_data<T: SessionData>(mut self) -> Self {
        self.data_checks.push(|service| service.check_data::<T>());
        self
    }

    /// Adds an authenticator (API key, JWT) tried when the session gives no principal.
    pub fn authenticator(mut self, authenticator: impl Authenticator) -> Self {
        self.authenticators.push(Arc::new(authenticator));
        self
    }

    /// Provides a value to controllers and interceptors when they are built
    /// ([`AppContext::get`]) and to handlers as `Extension<T>`.
    pub fn provide<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.provided.insert(TypeId::of::<T>(), Arc::new(value));
        self.extensions.push(|router, ctx| match ctx.get::<T>() {
            Some(value) => router.layer(Extension(value.clone())),
            None => router,
        });
        self
    }

    /// Whether to collect controllers and interceptors from the registry
    /// (default on). When off, only the built-in interceptors and the ones
    /// passed to [`interceptor`](Self::interceptor),
    /// [`add_interceptor`](Self::add_interceptor),
    /// [`controller`](Self::controller) and
    /// [`add_controller`](Self::add_controller) are used.
    pub fn use_registry(mut self, on: bool) -> Self {
        self.use_registry = on;
        self
    }

    /// Adds an interceptor registration by hand.
    pub fn interceptor(mut self, registration: &'static InterceptorRegistration) -> Self {
        self.interceptors.push(registration);
        self
    }

    /// Adds an interceptor declared `#[interceptor(registry = false)]`,
    /// which only the apps it is added to run (see
    /// [`UnregisteredInterceptor`]). It is ordered with the others by its
    /// `depends_on` / `runs_before`, and [`build`](Self::build) fails as for
    /// any interceptor on a cycle or a missing dependency, or when it is
    /// added twice ([`OrderError`](crate::OrderError)).
    pub fn add_interceptor<I: UnregisteredInterceptor>(self) -> Self {
        self.interceptor(I::REGISTRATION)
    }

    /// Adds a controller registration by hand.
    pub fn controller(mut self, registration: &'static ControllerRegistration) -> Self {
        self.controllers.push(registration);
        self
    }

    /// Adds a controller declared `#[controller("/base", registry =
    /// false)]`, which only the apps it is added to serve (see
    /// [`Controller`]).
    pub fn add_controller<C: Controller>(self) -> Self {
        self.controller(C::REGISTRATION)
    }

    /// Merges plain axum routes; they run inside the interceptors like controller routes.
    pub fn merge(mut self, router: Router) -> Self {
        self.extra = self.extra.merge(router);
        self
    }

    /// Builds the app: the session service, the interceptor order, every
    /// controller's routes. Every misconfiguration is an error here, not a
    /// panic at the first request: with a client-side store, that includes a
    /// cookie name, path and domain that leave no room for its smallest
    /// session ([`BuildError::Cookie`]).
    pub fn build(self) -> Result<App, BuildError> {
        self.cookie.validate()?;
        let challenges = Challenges::for_realm(&self.realm)?;
        let login_page = self.login_page.as_deref().map(LoginPage::new).transpose()?;
        let store = self.store.ok_or_else(|| {
            session_core::SessionError::Config(
                "a session store is required: call .store(..)".into(),
            )
        })?;
        let mut service = SessionService::builder()
            .shared_store(store)
            .token_context(self.cookie.name.clone())
            .expiry(self.expiry)
            .invalid_data(self.invalid_data)
            .moved_grace(self.moved_grace);
        for check in self.data_checks {
            service = check(service);
        }
        for key in self.keys {
            service = service.key(key);
        }
        if let Some(clock) = self.clock {
            service = service.clock(clock);
        }
        service = match self.last_seen_interval {
            Some(interval) => service.last_seen_interval(interval),
            None => service.no_last_seen_on_reads(),
        };
        if let Some(max) = self.max_sessions_per_user {
            service = service.max_sessions_per_user(max);
        }
        let service = service.build()?;
        check_client_side_room(&self.cookie, &service)?;
        let bearer = self.bearer && service.store().client_side().is_none();
        let cross_origin =
            CrossOriginCheck::new(&self.trusted_origins, &self.cross_origin_exempt, bearer)?;
        let cross_origin = self.cross_origin.then(|| Arc::new(cross_origin));
        let ctx = AppContext {
            service: service.clone(),
            config: Arc::new(WebConfig {
                ended_cookie: service.store().client_side().map(|_| {
                    let mut ended = self.cookie.clone();
                    ended
                        .name
                        .push_str(session_core::store::cookie::ENDED_COOKIE_SUFFIX);
                    ended
                }),
                cookie: self.cookie,
                bearer,
            }),
            authenticators: self.authenticators.into(),
            provided: Arc::new(self.provided),
        };

        let mut interceptors: Vec<&InterceptorRegistration> =
            inventory::iter::<InterceptorRegistration>
                .into_iter()
                .filter(|r| self.use_registry || r.builtin)
                .collect();
        interceptors.extend(self.interceptors);
        let ordered = resolve_order(&interceptors)?;
        let refs: Vec<InterceptorRef> = ordered.iter().map(|r| r.interceptor).collect();
        let order: Vec<&'static str> = refs.iter().map(|r| display_name(r, &refs)).collect();
        let steps = build_chain(&ordered, &ctx, challenges.clone())?;

        let mut controllers: Vec<&ControllerRegistration> = if self.use_registry {
            inventory::iter::<ControllerRegistration>
                .into_iter()
                .collect()
        } else {
            Vec::new()
        };
        controllers.extend(self.controllers);
        // The registry's order is unspecified; sort so errors and listings are stable.
        controllers.sort_by_key(|c| (c.base_path, c.name));
        let built = build_routes(&controllers, &ctx)?;
        let extra = self.extra;
        let mut inner = guarded("(merged routes)", move || built.router.merge(extra))?;
        for extend in &self.extensions {
            inner = extend(inner, &ctx);
        }
        // Merged routers keep their routes to themselves: only controllers' count.
        tracing::info!(
            order = ?order,
            controller_routes = built.listing.len(),
            "session app built"
        );
        // Every route and the fallback run inside the interceptors.
        // The login page's check runs outermost, on the response every
        // interceptor answered with.
        let router = inner.layer(InterceptorLayer {
            steps,
            challenges,
            login_page: login_page.map(Arc::new),
            cross_origin,
        });
        Ok(App {
            router,
            order,
            routes: built.listing,
            service,
        })
    }
}

/// The interceptors in order, with the auth and session interceptors run as
/// one step when they are next to each other; that step called directly when
/// it is the whole chain.
fn build_chain(
    ordered: &[&InterceptorRegistration],
    ctx: &AppContext,
    challenges: Option<Arc<Challenges>>,
) -> Result<Steps, BuildError> {
    let auth = InterceptorRef::of::<AuthInterceptor>();
    let session = InterceptorRef::of::<SessionInterceptor>();
    let mut chain: Vec<Arc<dyn Interceptor>> = Vec::with_capacity(ordered.len());
    let mut fused_step = None;
    let mut i = 0;
    while i < ordered.len() {
        let fused = ordered[i].interceptor == auth
            && ordered
                .get(i + 1)
                .is_some_and(|next| next.interceptor == session);
        if fused {
            let step = Arc::new(AuthThenSession {
                auth: AuthInterceptor::from_app(ctx),
                challenges: challenges.clone(),
            });
            fused_step = Some(Arc::clone(&step));
            chain.push(step);
            i += 2;
        } else {
            chain.push((ordered[i].build)(ctx)?);
            i += 1;
        }
    }
    Ok(match fused_step {
        Some(step) if chain.len() == 1 => Steps::Builtin(step),
        _ => Steps::Chain(chain.into()),
    })
}

/// With a client-side store the cookie's value is the sealed session, much
/// longer than a signed id: the cookie must have room for the smallest one
/// (no data, no login), sealed by the store itself, or every write would be
/// refused as too large once the session exists.
fn check_client_side_room(
    cookie: &CookieConfig,
    service: &SessionService,
) -> Result<(), BuildError> {
    let Some(client) = service.store().client_side() else {
        return Ok(());
    };
    let now = service.clock().now();
    let empty = SessionRecord::new(
        SessionId::generate(),
        now,
        service.expiry().for_new(now, false),
    );
    let token = client
        .seal(service.signer(), &empty)
        .map_err(session_core::SessionError::from)?;
    cookie.check_token_room(token.len(), "the smallest session the store seals")?;
    Ok(())
}
