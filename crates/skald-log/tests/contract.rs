//! The EventStore contract, run against the embedded engine (small segments, so reads cross them).

use std::sync::Arc;

use skald_core::EventStore;
use skald_log::{Options, Store};

fn open_store() -> Arc<dyn EventStore> {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir").keep();
    Arc::new(Store::open(dir, Options { segment_bytes_target: 8 * 1024, ..Options::default() }).expect("store opens"))
}

skald_core::event_store_contract!(open_store);
