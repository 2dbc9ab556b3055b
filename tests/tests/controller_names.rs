//! Controllers registered through `#[controller]` whose type names are
//! alike (`admin::Users`, `api::Users`) and whose routes clash: the build
//! error must tell them apart. Its own test binary: the registry is per
//! binary, and this clash would fail every other app built in it.

use session_axum::BuildError;
use session_axum::prelude::*;

/// A controller named `Users` whose `GET /users/{id}` clashes with the
/// other module's.
macro_rules! users_controller {
    () => {
        use session_axum::prelude::*;

        pub struct Users;

        #[controller("/users")]
        impl Users {
            #[get("/{id}")]
            async fn show(axum::extract::Path(id): axum::extract::Path<u32>) -> String {
                id.to_string()
            }
        }
    };
}

mod admin {
    users_controller!();
}

mod api {
    users_controller!();
}

#[test]
fn a_clash_between_alike_names_tells_them_apart() {
    let Err(err) = App::builder()
        .store(MemoryStore::new())
        .secret(Key::generate())
        .build()
    else {
        panic!("two routes of one method and path are a build error");
    };
    let BuildError::DuplicateRoute { first, second, .. } = &err else {
        panic!("{err:?}");
    };
    let mut names = [*first, *second];
    names.sort();
    assert_eq!(
        names,
        [
            "controller_names::admin::Users",
            "controller_names::api::Users"
        ]
    );
    // Not "declared twice (by `Users` and `Users`)".
    let message = err.to_string();
    assert!(
        message.contains("admin::Users") && message.contains("api::Users"),
        "{message}"
    );
}
