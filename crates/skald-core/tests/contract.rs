//! The EventStore contract, run against the reference implementation.

skald_core::event_store_contract!(
    || std::sync::Arc::new(skald_core::MemoryStore::new()) as std::sync::Arc<dyn skald_core::EventStore>
);
