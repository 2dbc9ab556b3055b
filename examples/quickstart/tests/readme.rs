//! The README's first example is this package's `main.rs`, so the example
//! a newcomer copies is one that compiles.

#[test]
fn the_readme_shows_the_quickstart_as_it_compiles() {
    let readme = include_str!("../../../README.md");
    let source = include_str!("../src/main.rs");
    let block = readme
        .split("```rust\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README has a rust block");
    assert_eq!(
        block, source,
        "README's first rust block differs from examples/quickstart/src/main.rs"
    );
}
