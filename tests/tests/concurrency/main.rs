//! Concurrent requests on one session: the service with many tasks on a
//! multi-threaded runtime, and real HTTP against a bound server, on the
//! memory store and the file store.

mod races;
mod service;
mod support;
mod web;
