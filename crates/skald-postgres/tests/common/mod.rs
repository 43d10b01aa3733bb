//! Per-test setup shared by the PostgreSQL tests: the URL from `SKALD_TEST_POSTGRES_URL`, a fresh
//! schema per test, dropped afterwards even when the test panics. (The lead's shared test kit will
//! take this over; keep it this small.)
#![allow(dead_code)]

use std::future::Future;
use std::panic::{resume_unwind, AssertUnwindSafe};

use futures_util::FutureExt;
use skald_postgres::{PgOptions, PgStore};

/// The database the tests use, or `None` (and a note on stdout) when the variable is unset.
pub fn url() -> Option<String> {
    let url = std::env::var("SKALD_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        println!("skipped: SKALD_TEST_POSTGRES_URL is not set");
    }
    url
}

/// Options for a store on `schema`.
pub fn options(url: &str, schema: &str) -> PgOptions {
    PgOptions { schema: schema.to_owned(), pool_size: 4, ..PgOptions::new(url) }
}

/// Runs `body(url, schema)` on a fresh schema, then drops the schema, also when `body` panics.
/// Skips (returns) when no database is configured; an unreachable database fails the test.
pub async fn with_schema<F, Fut>(body: F)
where
    F: FnOnce(String, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(url) = url() else { return };
    let schema = format!("skald_test_{}", uuid::Uuid::new_v4().simple());
    let outcome = AssertUnwindSafe(body(url.clone(), schema.clone())).catch_unwind().await;
    PgStore::drop_schema(&url, &schema).await.expect("drop the test schema");
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
}

/// Runs `body` with a store on a fresh schema, closing the store afterwards.
pub async fn with_store<F, Fut>(body: F)
where
    F: FnOnce(PgStore) -> Fut,
    Fut: Future<Output = ()>,
{
    with_schema(|url, schema| async move {
        let store = PgStore::connect(options(&url, &schema)).await.expect("connect to PostgreSQL");
        let outcome = AssertUnwindSafe(body(store.clone())).catch_unwind().await;
        store.close().await;
        if let Err(panic) = outcome {
            resume_unwind(panic);
        }
    })
    .await;
}
