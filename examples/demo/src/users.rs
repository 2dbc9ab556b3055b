//! The demo's users, with argon2id password hashes (never plain passwords).

use argon2::password_hash::PasswordHash;
use argon2::{Argon2, PasswordVerifier};

/// A demo account.
#[derive(Debug, Clone, Copy)]
pub struct User {
    /// Login name and user id.
    pub name: &'static str,
    /// Group shown by `/me` (hexancore's session group).
    pub group: &'static str,
    /// Permissions granted at login.
    pub permissions: &'static [&'static str],
    hash: &'static str,
}

/// The accounts listed in the README.
pub const USERS: &[User] = &[
    User {
        name: "roger",
        group: "staff",
        permissions: &["admin"],
        hash: "$argon2id$v=19$m=19456,t=2,p=1$qjlIgXEmfA6siUuppnGqWw$pUvr1CLQkRt056JsEjNZoqKg90CG0f34kx4D1pbtB5E",
    },
    User {
        name: "ada",
        group: "engineering",
        permissions: &[],
        hash: "$argon2id$v=19$m=19456,t=2,p=1$sNlFu/clkBe/lRBBqamK8Q$uncfYjRkHtxTfPgppqQtmaSof3atLU5OXWF6cSb1Y8g",
    },
    User {
        name: "grace",
        group: "engineering",
        permissions: &[],
        hash: "$argon2id$v=19$m=19456,t=2,p=1$3bQBa+1PyYN0dv9MiF3FhA$a3cEyyf+ZYEa/xLMzULwnDRpBSM5CL6jxZ0o5FoJF1s",
    },
];

/// Checks a username and password; runs the hash even for unknown names so
/// timing does not tell which names exist. CPU-heavy: call off the runtime.
pub fn authenticate(name: &str, password: &str) -> Option<User> {
    let user = USERS.iter().find(|u| u.name == name);
    let hash = user.map_or(USERS[0].hash, |u| u.hash);
    let parsed = PasswordHash::new(hash).ok()?;
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    user.filter(|_| ok).copied()
}

/// [`authenticate`] on the blocking pool.
pub async fn check(name: String, password: String) -> Option<User> {
    tokio::task::spawn_blocking(move || authenticate(&name, &password))
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_against_their_hashes_only() {
        assert_eq!(
            authenticate("roger", "roger-secret").map(|u| u.name),
            Some("roger")
        );
        assert_eq!(
            authenticate("ada", "ada-secret").map(|u| u.name),
            Some("ada")
        );
        assert!(authenticate("ada", "roger-secret").is_none());
        assert!(authenticate("nobody", "roger-secret").is_none());
        assert!(authenticate("roger", "").is_none());
    }
}
