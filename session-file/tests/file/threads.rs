//! Where calls run: a load on the calling task by default, on the blocking
//! pool when the builder says so; the rest need a tokio runtime, and fail
//! without one.

use std::future::Future;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};

use session_core::{SessionStore, StoreError};
use session_file::FileStore;

use crate::support::{HOUR, record, temp_path};

/// Takes the one blocking thread of `runtime` until the returned sender is
/// dropped. The pool runs its tasks in order, so a task queued after this
/// one waits for it.
fn occupy_blocking_pool(runtime: &tokio::runtime::Runtime) -> mpsc::Sender<()> {
    let (release, wait) = mpsc::channel::<()>();
    drop(runtime.spawn_blocking(move || {
        let _ = wait.recv();
    }));
    release
}

/// Polls a load once while the blocking pool is busy: answered at once when
/// it runs on the calling task. `None` leaves the builder's default.
fn first_poll_of_a_load(loads_on_blocking_pool: Option<bool>) {
    let (_dir, path) = temp_path();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let mut builder = FileStore::builder(&path).without_cleanup();
    if let Some(enabled) = loads_on_blocking_pool {
        builder = builder.loads_on_blocking_pool(enabled);
    }
    let store = builder.open().unwrap();
    let loads_on_blocking_pool = loads_on_blocking_pool.unwrap_or(false);
    let stored = record(store.now(), HOUR, Some("ada"));
    runtime.block_on(store.create(&stored)).unwrap();

    let release = occupy_blocking_pool(&runtime);
    let _entered = runtime.enter();
    let mut load = std::pin::pin!(store.load(&stored.id));
    match load.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(loaded) => {
            assert!(!loads_on_blocking_pool, "answered without the pool");
            assert_eq!(loaded.unwrap(), Some(stored.clone()));
        }
        Poll::Pending => {
            assert!(loads_on_blocking_pool, "the load went to the blocking pool");
            drop(release);
            assert_eq!(runtime.block_on(load).unwrap(), Some(stored.clone()));
        }
    }
}

#[test]
fn a_load_runs_on_the_calling_task_by_default() {
    first_poll_of_a_load(None);
}

#[test]
fn the_builder_chooses_where_a_load_runs() {
    first_poll_of_a_load(Some(true));
    first_poll_of_a_load(Some(false));
}

/// Outside a tokio runtime a call that needs its blocking pool fails with
/// `Unavailable` instead of panicking, and writes nothing; a load needs none.
#[test]
fn calls_outside_a_tokio_runtime_fail_without_a_panic() {
    let (_dir, path) = temp_path();
    let store = FileStore::builder(&path).without_cleanup().open().unwrap();
    let session = record(store.now(), HOUR, Some("ada"));
    let once = |call: std::pin::Pin<&mut dyn Future<Output = Result<(), StoreError>>>| match call
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("a call outside a runtime waits"),
    };
    let created = once(std::pin::pin!(store.create(&session)));
    let error = created.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
    assert!(error.to_string().contains("tokio runtime"), "{error}");
    let listed = once(std::pin::pin!(async {
        store.list_for_user("ada").await.map(drop)
    }));
    assert!(listed.unwrap_err().is_unavailable());
    let loaded = once(std::pin::pin!(async {
        assert_eq!(store.load(&session.id).await?, None, "nothing was written");
        Ok(())
    }));
    loaded.unwrap();
}
