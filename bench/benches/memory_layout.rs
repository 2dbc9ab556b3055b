//! Memory per session through the store APIs, counted exactly by a counting
//! allocator (no RSS noise): what our `MemoryStore` and tower-sessions'
//! `MemoryStore` keep per counter session, and where our bytes go.
//!
//! `cargo bench -p session-bench --bench memory_layout` (not a criterion
//! bench: it prints a report).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use session_core::{FieldMap, MemoryStore, SessionRecord, SessionStore};
use tower_sessions::SessionStore as _;

use common::{counter_record, ready, ts_counter_record};

const SESSIONS: usize = 100_000;

/// Live bytes requested, and live bytes the allocator really holds for them
/// (`malloc_usable_size` plus the 8-byte chunk header of glibc).
struct Counting;

static REQUESTED: AtomicIsize = AtomicIsize::new(0);
static HELD: AtomicIsize = AtomicIsize::new(0);

fn held(ptr: *mut u8) -> isize {
    // SAFETY: `ptr` was returned by the system allocator and is live.
    (unsafe { libc::malloc_usable_size(ptr.cast()) } + 8) as isize
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            REQUESTED.fetch_add(layout.size() as isize, Ordering::Relaxed);
            HELD.fetch_add(held(ptr), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        REQUESTED.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        HELD.fetch_sub(held(ptr), Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let before = held(ptr);
        // SAFETY: forwarded as is.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            REQUESTED.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
            HELD.fetch_add(held(new) - before, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> (isize, isize) {
    (
        REQUESTED.load(Ordering::Relaxed),
        HELD.load(Ordering::Relaxed),
    )
}

fn per_session(name: &str, before: (isize, isize), after: (isize, isize)) {
    let n = SESSIONS as f64;
    println!(
        "{name:<40} {:>7.1} B requested  {:>7.1} B held by malloc",
        (after.0 - before.0) as f64 / n,
        (after.1 - before.1) as f64 / n
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    println!("per counter session, {SESSIONS} sessions, through the store API:");

    let store = MemoryStore::new();
    let before = live();
    for i in 0..SESSIONS {
        let record = counter_record(i as u64);
        ready(store.create(&record)).unwrap();
    }
    per_session("ours: session_core::MemoryStore", before, live());
    drop(store);

    let store = tower_sessions::MemoryStore::default();
    let before = live();
    for i in 0..SESSIONS {
        let mut record = ts_counter_record(i as u64);
        ready(store.create(&mut record)).unwrap();
    }
    per_session("tower-sessions: MemoryStore", before, live());
    drop(store);

    println!("\nthe record type of the store API (what load returns and create takes):");
    println!(
        "  size_of SessionRecord {} B (FieldMap {} B each for fields and flash)",
        size_of::<SessionRecord>(),
        size_of::<FieldMap>(),
    );
    let record = counter_record(123_456);
    let before = live();
    let mut copy = record.clone();
    copy.fields.shrink_to_fit();
    let after = live();
    println!(
        "  heap of one counter record's fields: {} B requested, {} B held (the entry vector, the name, the value)",
        after.0 - before.0,
        after.1 - before.1
    );
}
