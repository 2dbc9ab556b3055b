//! The demo binary over real HTTP: the seeds' samples, on each store.

mod contract;
mod stores;
mod support;
