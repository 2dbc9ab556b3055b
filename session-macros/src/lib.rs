//! Attribute macros for `session-axum` (re-exported there; use them through it).
