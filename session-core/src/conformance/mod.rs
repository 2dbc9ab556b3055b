//! The generic store conformance suite: every [`SessionStore`](crate::SessionStore)
//! runs the same cases through [`conformance_suite!`](crate::conformance_suite).
//!
//! ```ignore
//! session_core::conformance_suite!(|clock: session_core::MockClock| async move {
//!     session_core::MemoryStore::with_clock(std::sync::Arc::new(clock))
//! });
//! ```
//!
//! The cases are `#[tokio::test(flavor = "multi_thread")]` functions: the
//! crate that runs them needs `tokio` with the `macros` and
//! `rt-multi-thread` features among its own dependencies.
//!
//! Server-side cases return at once for client-side stores (those with
//! [`SessionStore::client_side`](crate::SessionStore::client_side)), and the
//! `client_side_*` cases return at once for server-side ones.
//!
//! The factory gets a [`MockClock`](crate::MockClock) the store must use for
//! its expiry decisions; cases move it instead of sleeping. Cases for
//! operations a store does not declare in its
//! [`Capabilities`](crate::Capabilities) check that they fail with
//! [`StoreError::Unsupported`](crate::StoreError::Unsupported) instead.

pub mod cases;
mod guarded;
mod model;
mod recording;

pub use guarded::Guarded;
pub use recording::{RecordingStore, StoreOp};

/// Expands to one `#[tokio::test]` per conformance case for the store made by
/// `$make`, a `Fn(MockClock) -> impl Future<Output = impl SessionStore>`.
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@cases $make;
            create_then_load_round_trips,
            create_refuses_an_existing_id,
            create_may_reuse_an_expired_id,
            create_retried_with_the_same_record_is_applied_once,
            load_of_unknown_id_is_none,
            load_at_reads_as_load_does,
            save_sets_only_the_patched_fields,
            save_removes_fields,
            save_sets_and_removes_flash,
            a_flash_set_again_since_it_was_taken_survives,
            save_moves_expiry_only_when_asked,
            save_increments_the_revision,
            save_never_resurrects_a_deleted_session,
            save_never_resurrects_an_expired_session,
            records_over_the_size_limit_are_refused_whole,
            a_binding_over_the_size_limit_is_refused,
            a_save_counts_the_binding_toward_the_size_limit,
            rebind_changes_a_live_logins_binding_in_place,
            rebind_counts_the_binding_toward_the_size_limit,
            compare_and_set_refuses_a_stale_revision,
            concurrent_compare_and_set_lets_exactly_one_save_through,
            concurrent_patches_of_different_fields_both_survive,
            touch_save_and_delete_racing_lose_nothing_and_resurrect_nothing,
            touch_moves_expiry_and_keeps_data,
            touch_of_missing_session_is_missing,
            touch_keeps_a_session_alive_past_its_old_expiry,
            refreshed_bound_sessions_stay_listed_past_their_old_expiry,
            delete_removes_the_record,
            delete_of_unknown_id_is_false,
            expired_records_are_not_loaded,
            expired_sessions_are_gone_for_every_operation,
            a_close_is_saved_only_at_the_current_revision,
            a_closed_record_is_gone_for_every_operation,
            a_moved_marker_reads_back_until_its_expiry,
            list_for_user_lists_only_that_users_live_sessions,
            list_for_user_orders_most_recent_first,
            an_empty_save_moves_only_last_seen,
            list_for_user_skips_expired_sessions,
            delete_for_user_keeps_the_given_session,
            delete_for_user_without_keep_deletes_all,
            delete_for_user_racing_a_login_leaves_no_orphan,
            deleted_sessions_leave_the_user_listing,
            list_pages_through_every_live_session_once,
            list_of_empty_store_is_empty,
            a_page_cursor_not_handed_out_is_refused,
            a_huge_page_limit_is_served,
            listed_sessions_all_load,
            meta_round_trips_nested_json,
            awkward_names_and_values_round_trip,
            client_side_round_trips_a_record,
            client_side_round_trips_awkward_names_and_values,
            client_side_refuses_tampered_and_truncated_tokens,
            client_side_binds_the_cookie_name,
            client_side_opens_older_keys_and_reports_them,
            client_side_refuses_oversized_sessions,
            client_side_has_no_server_state,
            random_operations_match_a_model
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let clock = $crate::MockClock::starting_now();
                let make = $make;
                let store = make(clock.clone()).await;
                $crate::conformance::cases::$case(store, clock).await;
            }
        )*
    };
}
