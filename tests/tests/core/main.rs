//! session-core behaviour: the store conformance suite on `MemoryStore` and the
//! service's lifecycle rules, observed through what the store holds and what
//! persist wrote.

mod conformance;
mod debug_output;
mod expiry;
mod flash;
mod late_requests;
mod lifecycle;
mod logging;
mod login_age;
mod permissions;
mod revoke_passes;
mod seeds;

mod rotation;
mod support;
mod tracking;
mod untrusted;
mod user_limit;
mod users;
mod values;
