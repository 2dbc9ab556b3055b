use session_axum::prelude::*;

pub struct Users;

// Routes under the same `#[cfg]`s exist together: they are compared.
#[controller("/users")]
impl Users {
    #[cfg(debug_assertions)]
    #[get("/{id}")]
    async fn one() -> &'static str {
        "one"
    }

    #[cfg(debug_assertions)]
    #[delete("/{name}")]
    async fn remove() -> &'static str {
        "removed"
    }

    #[cfg(debug_assertions)]
    #[get("/{key}")]
    async fn again() -> &'static str {
        "again"
    }

    #[cfg(all())]
    #[cfg(debug_assertions)]
    #[get("/{a}/x")]
    async fn x() -> &'static str {
        "x"
    }

    #[cfg(debug_assertions)]
    #[cfg(all())]
    #[get("/{*rest}")]
    async fn rest() -> &'static str {
        "rest"
    }
}

fn main() {}
