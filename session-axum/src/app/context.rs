use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use session_core::SessionService;

use super::{BuildError, WebConfig};
use crate::Authenticator;

/// What controllers and interceptors can use when the app builds them: the
/// session service, the web configuration and the values the app provided.
#[derive(Clone)]
pub struct AppContext {
    pub(crate) service: SessionService,
    pub(crate) config: Arc<WebConfig>,
    pub(crate) authenticators: Arc<[Arc<dyn Authenticator>]>,
    pub(crate) provided: Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl AppContext {
    /// The session service.
    pub fn service(&self) -> &SessionService {
        &self.service
    }

    /// The web configuration (cookie, bearer).
    pub fn config(&self) -> &Arc<WebConfig> {
        &self.config
    }

    pub(crate) fn authenticators(&self) -> Arc<[Arc<dyn Authenticator>]> {
        self.authenticators.clone()
    }

    /// A value provided with [`AppBuilder::provide`](crate::AppBuilder::provide).
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.provided
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
    }

    /// A provided value, or the build error naming who needed it.
    pub fn require<T: Any + Send + Sync>(&self, needed_by: &'static str) -> Result<&T, BuildError> {
        self.get::<T>().ok_or(BuildError::Missing {
            needed_by,
            type_name: type_name::<T>(),
        })
    }
}

impl fmt::Debug for AppContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppContext")
            .field("config", &self.config)
            .field("provided", &self.provided.len())
            .finish_non_exhaustive()
    }
}

/// Builds a controller or interceptor from the app when the app is built, so
/// it can hold services (the `SessionService`, values given to
/// [`AppBuilder::provide`](crate::AppBuilder::provide)). Used by
/// `#[controller("/base", from_app)]` and `#[interceptor(from_app)]`; without
/// `from_app` the value comes from `Default`.
///
/// This is how routes reach the app's own values (a database pool, a
/// client): controllers' routes have no axum router state, so `State<T>`
/// is not theirs to extract. A value given to
/// [`AppBuilder::provide`](crate::AppBuilder::provide) is kept in a field
/// here, or taken in a route as `Extension<T>`.
///
/// ```standalone_crate
/// use session_axum::prelude::*;
/// use session_axum::{AppContext, BuildError};
///
/// #[derive(Clone)]
/// struct Db(&'static str);
///
/// struct Accounts {
///     db: Db,
/// }
///
/// impl FromApp for Accounts {
///     fn from_app(ctx: &AppContext) -> Result<Self, BuildError> {
///         let db = ctx.require::<Db>("Accounts")?.clone();
///         Ok(Self { db })
///     }
/// }
///
/// #[controller("/accounts", from_app)]
/// impl Accounts {
///     #[get("/db")]
///     async fn db(&self) -> &'static str {
///         self.db.0
///     }
///
///     #[get("/also")]
///     async fn also(axum::Extension(db): axum::Extension<Db>) -> &'static str {
///         db.0
///     }
/// }
///
/// let app = App::builder()
///     .store(MemoryStore::new())
///     .secret(Key::generate())
///     .provide(Db("postgres://localhost/app"))
///     .build();
/// assert!(app.is_ok());
/// let missing = App::builder().store(MemoryStore::new()).secret(Key::generate()).build();
/// assert!(matches!(missing, Err(BuildError::Missing { needed_by: "Accounts", .. })));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `FromApp`, which `from_app` builds it with",
    label = "built with `FromApp` because of `from_app`",
    note = "implement `session_axum::FromApp` for `{Self}` (`fn from_app(ctx: &AppContext) -> Result<Self, BuildError>`, taking provided values with `ctx.require::<T>(..)`), or drop `from_app` to build it with `Default`"
)]
pub trait FromApp: Sized + Send + Sync + 'static {
    /// Builds the value.
    fn from_app(ctx: &AppContext) -> Result<Self, BuildError>;
}
