//! The EventStore contract (`skald_core::contract::cases`), run against a fresh `PgStore` each.

mod common;

use std::sync::Arc;

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                common::with_store(|store| skald_core::contract::cases::$case(Arc::new(store))).await;
            }
        )*
    };
}

contract!(
    appends_get_gap_free_positions_and_versions,
    expected_versions_hold_and_report_the_actual_version,
    retries_are_idempotent_and_overlaps_refused,
    multi_stream_appends_are_all_or_nothing,
    reads_page_both_ways_by_stream_category_type_and_all,
    reads_as_of_a_position_see_the_past,
    metadata_hides_events_and_a_deleted_stream_can_be_recreated,
    streams_are_listed_by_name_in_pages,
    subscriptions_catch_up_then_follow_live,
    invalid_appends_name_the_field,
    conditions_guard_appends_atomically,
);
