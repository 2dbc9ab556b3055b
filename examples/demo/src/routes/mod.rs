//! The demo's controllers, one per seed.

pub mod home;
pub mod login;
pub mod me;
pub mod travetto;
