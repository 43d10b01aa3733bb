//! Per-test setup shared by the PostgreSQL tests: the URL from `SKALD_TEST_POSTGRES_URL`, a fresh
//! schema per test, dropped afterwards even when the test panics. (The lead's shared test kit will
//! take this over; keep it this small.)
#![allow(dead_code)]

use std::future::Future;
use std::panic::{resume_unwind, AssertUnwindSafe};

use futures_util::FutureExt;
use skald_postgres::{PgOptions, PgStore};

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
    skald_testkit::with_postgres_schema(body).await;
}

/// Runs `body` with a store on a fresh schema, closing the store afterwards.
pub async fn with_store<F, Fut>(body: F)
where
    F: FnOnce(PgStore) -> Fut,
    Fut: Future<Output = ()>,
{
    with_schema(|url, schema| async move {
        let store = connect(&url, &schema).await;
        let outcome = AssertUnwindSafe(body(store.clone())).catch_unwind().await;
        store.close().await;
        if let Err(panic) = outcome {
            resume_unwind(panic);
        }
    })
    .await;
}

/// A plain connection beside the store's, for what a test does behind its back.
pub async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("raw connection");
    tokio::spawn(connection);
    client
}

/// SQL that commits one event (`type` Raw, `{}`) through `skald_append`, as a node's writer does:
/// run inside an explicit transaction, it holds the commit lock until that transaction ends.
pub fn raw_append_sql(schema: &str, stream: &str) -> String {
    format!(
        "SELECT o_position[1] FROM \"{schema}\".skald_append(ARRAY['{stream}'], ARRAY[NULL::int8], NULL, ARRAY[0], ARRAY[1], ARRAY[-1::int8], \
         ARRAY[1], ARRAY[NULL::text], ARRAY[NULL::bytea], ARRAY[1], ARRAY[gen_random_uuid()], ARRAY['Raw'], \
         ARRAY['{{}}'::bytea], ARRAY['{{}}'::bytea])"
    )
}

/// Ends every session of the stores on `schema` (what a PostgreSQL restart does to them).
pub async fn terminate_sessions(url: &str, schema: &str) -> i64 {
    let client = raw_client(url).await;
    let row = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[&format!("skald:{schema}")],
        )
        .await
        .expect("terminate sessions");
    row.get(0)
}

/// A store ("node") on `schema`.
pub async fn connect(url: &str, schema: &str) -> PgStore {
    PgStore::connect(options(url, schema)).await.expect("connect to PostgreSQL")
}

/// Waits (up to 10 s) until `store`'s committed head is `head`; false if it never gets there.
pub async fn wait_for_head(store: &PgStore, head: u64) -> bool {
    use skald_core::EventStore;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.head_position() != Some(head) {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    true
}
