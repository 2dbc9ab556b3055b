//! Compile-time behaviour of the macros: every misuse is an error under the
//! offending token (`ui/*/fail`, with reviewed `.stderr` files), and correct
//! uses compile and run (`ui/*/pass`).
//!
//! The `.stderr` files were generated with rustc 1.95.0; compiler messages
//! drift between versions, so regenerate with `TRYBUILD=overwrite` and review
//! the diff when the toolchain changes.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*/fail/*.rs");
    t.pass("ui/*/pass/*.rs");
}
