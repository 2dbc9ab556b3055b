//! A crate that forbids the lints generated code could raise takes
//! `#[session_data]`: its code carries no `allow` (an `allow` under a
//! `forbid` is itself an error, or for a lint group a warning) and raises
//! none of them, whether its accessors are called or not.
#![forbid(unused, dead_code, unused_imports, unused_lifetimes, unused_qualifications, deprecated)]
#![deny(warnings)]

use std::collections::HashSet;

use session_axum::prelude::*;

fn seven() -> u32 {
    7
}

fn check(_: &Info) -> Result<(), String> {
    Ok(())
}

/// Private, in a binary: nothing outside calls its accessors.
#[session_data(validate = check, group_id = team, authenticated = user)]
#[derive(Debug, Clone, Default, PartialEq)]
struct Info {
    team: Option<String>,
    user: Option<String>,
    #[serde(default)]
    level: u32,
    #[serde(skip, default = "seven")]
    cache: u32,
    #[serde(default = "seven", alias = "old")]
    seven: u32,
    set: HashSet<u32>,
}

/// No fields.
#[session_data]
#[derive(Debug, Clone, Default)]
struct Empty {}

/// Only a skipped field.
#[session_data]
#[derive(Debug, Clone, Default)]
struct OnlySkipped {
    #[serde(skip, default = "seven")]
    x: u32,
}

fn main() {
    let _ = (Info::default(), Empty::default(), OnlySkipped::default());
}
