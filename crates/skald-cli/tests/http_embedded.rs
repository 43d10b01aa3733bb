//! The HTTP suite of `skald-server`, run against the embedded disk engine instead of the
//! in-memory reference store: the same requests must give the same answers.

use std::sync::Arc;

use skald_core::EventStore;
use skald_log::{Options, Store};

fn open_store() -> Arc<dyn EventStore> {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir").keep();
    Arc::new(Store::open(dir, Options { segment_bytes_target: 64 * 1024, ..Options::default() }).expect("store opens"))
}

skald_server::http_suite!(open_store);
