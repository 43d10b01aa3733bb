//! The one test kit every Skald backend and every service suite runs on.
//!
//! A backend (the reference [`MemoryStore`](skald_core::MemoryStore), the embedded engine,
//! PostgreSQL, …) plugs in as a [`Backend`]: a factory of fresh, isolated stores that can be closed
//! and reopened ("crash and reopen"), opened from another node or another process where the backend
//! can, and cleaned up afterwards. Everything else here is written once against that:
//!
//! - [`contract`]: the whole `EventStore` contract, one async function per promise;
//! - [`model`]: the differential model test (random operations, checked step by step against
//!   `MemoryStore`, with reopens);
//! - [`crash`]: the child-process crash harness (one protocol) that the log, groups, saga and
//!   projection crash tests share;
//! - [`backend_tests!`]: turns case functions into one `#[tokio::test]` per backend, so a service
//!   suite (groups, sagas, projections) runs on every backend by listing its cases once.
//!
//! Which backends run: all of [`backends`] by default; `SKALD_TEST_BACKENDS=memory,embedded`
//! narrows it. PostgreSQL runs when `SKALD_TEST_POSTGRES_URL` is set; a test of a configured
//! backend that cannot be reached fails, it never passes silently.
//!
//! ```ignore
//! // tests/suite.rs of a service crate
//! mod cases {
//!     pub async fn delivers_in_order(kit: skald_testkit::TestStore) { /* use kit.store() */ }
//! }
//! skald_testkit::backend_tests!(crate::cases; delivers_in_order);
//! ```

pub mod backend;
pub mod contract;
pub mod crash;
pub mod model;

pub use backend::{
    backends, open_location, run, with_postgres_schema, Backend, Capabilities, Embedded, Memory, TestStore,
};

/// One `#[tokio::test]` per backend per case: `backend_tests!(path::to::cases; case_a, case_b)`.
///
/// Each case is `async fn(TestStore)`; the test for backend `b` is `b::case_a`, so
/// `cargo test memory::` or `cargo test postgres::` picks one backend.
#[macro_export]
macro_rules! backend_tests {
    ($cases:path; $($case:ident),* $(,)?) => {
        $crate::backend_tests!(@on memory; $cases; $($case),*);
        $crate::backend_tests!(@on embedded; $cases; $($case),*);
        $crate::backend_tests!(@on postgres; $cases; $($case),*);
    };
    (@on $backend:ident; $cases:path; $($case:ident),*) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    use $cases as cases;
                    $crate::run(stringify!($backend), cases::$case).await;
                }
            )*
        }
    };
}

/// The whole `EventStore` contract of [`contract`] on every backend: `event_store_contract!();`.
#[macro_export]
macro_rules! event_store_contract {
    () => {
        $crate::backend_tests!($crate::contract::cases;
            appends_get_gap_free_positions_and_versions,
            expected_versions_hold_and_report_the_actual_version,
            concurrent_appenders_race_and_exactly_one_wins,
            retries_are_idempotent_and_overlaps_refused,
            retries_are_idempotent_after_reopen,
            multi_stream_appends_are_all_or_nothing,
            conditions_guard_appends_atomically,
            reads_page_both_ways_by_stream_category_type_and_all,
            reads_as_of_a_position_see_the_past,
            reads_as_of_a_time_see_the_past,
            metadata_hides_events_and_a_deleted_stream_can_be_recreated,
            metadata_by_age_and_count_hides_old_events,
            delete_stream_races_with_writers_atomically,
            streams_are_listed_by_name_in_pages,
            subscriptions_catch_up_then_follow_live,
            subscriptions_see_no_gap_while_appends_run_concurrently,
            subscriptions_of_one_stream_and_from_the_end,
            data_survives_reopen_byte_for_byte,
            invalid_appends_name_the_field
        );
    };
}
