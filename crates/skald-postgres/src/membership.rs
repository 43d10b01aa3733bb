//! Which nodes share the schema: [`skald_core::Membership`] on the `nodes` table. A heartbeat is
//! one statement that upserts this node's row and answers every row seen within the timeout, all
//! judged by the database's clock (`now()`), so the nodes' own clocks may disagree without a node
//! being taken for dead or alive by mistake. Rows of nodes gone for long are deleted on the way.

use std::time::Duration;

use skald_core::{Error, Membership, NodeInfo};

use crate::fail;
use crate::PgStore;

/// Rows of nodes not heard from for this many times the timeout are deleted.
const FORGET_AFTER_TIMEOUTS: i32 = 100;

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl Membership for PgStore {
    async fn heartbeat(&self, id: &str, address: &str, timeout: Duration) -> Result<Vec<NodeInfo>, Error> {
        let table = format!("{}.nodes", self.inner.sql.schema);
        let client = self.client().await?;
        let upsert = format!(
            "INSERT INTO {table} (id, address, first_seen, last_seen) VALUES ($1, $2, now(), now()) \
             ON CONFLICT (id) DO UPDATE SET address = excluded.address, last_seen = now()"
        );
        client.execute(&upsert, &[&id, &address]).await.map_err(fail::from_pg)?;
        let forget = format!("DELETE FROM {table} WHERE last_seen < now() - make_interval(secs => $1::float8 / 1000)");
        let horizon = millis(timeout).saturating_mul(i64::from(FORGET_AFTER_TIMEOUTS)) as f64;
        client.execute(&forget, &[&horizon]).await.map_err(fail::from_pg)?;
        let live = format!(
            "SELECT id, address, (extract(epoch FROM now() - last_seen) * 1000)::int8, \
                    (extract(epoch FROM now() - first_seen) * 1000)::int8 \
             FROM {table} WHERE last_seen >= now() - make_interval(secs => $1::float8 / 1000) ORDER BY id"
        );
        let rows = client.query(&live, &[&(millis(timeout) as f64)]).await.map_err(fail::from_pg)?;
        rows.iter()
            .map(|row| {
                let (last_seen, member_for): (i64, i64) = (fail::column(row, 2)?, fail::column(row, 3)?);
                Ok(NodeInfo {
                    id: fail::column(row, 0)?,
                    address: fail::column(row, 1)?,
                    last_seen_ms: last_seen.max(0) as u64,
                    member_for_ms: member_for.max(0) as u64,
                })
            })
            .collect()
    }

    async fn leave(&self, id: &str) -> Result<(), Error> {
        let client = self.client().await?;
        let statement = format!("DELETE FROM {}.nodes WHERE id = $1", self.inner.sql.schema);
        client.execute(&statement, &[&id]).await.map_err(fail::from_pg)?;
        Ok(())
    }
}
