//! The `EventStore` contract on every backend: `memory::…`, `embedded::…`, `postgres::…`.

skald_testkit::event_store_contract!();
