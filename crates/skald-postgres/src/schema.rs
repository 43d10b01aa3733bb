//! The database schema: its versioned migrations, the `skald_append` function, and the rule that
//! a database newer than this build is refused.
//!
//! Everything lives in one PostgreSQL schema (the `schema` option), so several stores — and the
//! tests, one schema each — share a database without seeing each other. `SCHEMA.md` beside this
//! file describes the tables and the function; this module is the executable form.
//!
//! Migration rule: `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`. They run at
//! connect, all in one transaction under an advisory lock, so two nodes starting together apply
//! them once; a schema whose version is above [`SCHEMA_VERSION`] is refused (an older build must not
//! write data in a shape it does not know). A released migration is never edited: add one.

use skald_core::Error;
use tokio_postgres::Client;

use crate::fail;

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i32 = 2;

/// First key of the transaction-level advisory lock that serialises commits ("Skld").
pub const APPEND_LOCK_CLASS: i32 = 0x536b_6c64;
/// First key of the advisory lock held while migrating.
pub const MIGRATE_LOCK_CLASS: i32 = 0x536b_6c65;

/// Longest schema name PostgreSQL keeps (`NAMEDATALEN - 1`).
const SCHEMA_NAME_BYTES_MAX: usize = 63;

/// Checks a schema name: lower-case ASCII letters, digits and `_`, not starting with a digit.
///
/// Kept that strict because the name is spliced into SQL (quoted) and doubles as the NOTIFY
/// channel, and because PostgreSQL folds unquoted names to lower case: the name an operator types
/// into `psql` is the name the store uses.
pub fn validate_schema_name(schema: &str) -> Result<(), Error> {
    let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    let starts_well = schema.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !starts_well || schema.len() > SCHEMA_NAME_BYTES_MAX || !schema.chars().all(valid_char) {
        return Err(Error::invalid(
            "schema",
            format!(
                "schema name `{}` must be 1..={SCHEMA_NAME_BYTES_MAX} characters of a-z, 0-9 and _, not starting \
                 with a digit",
                schema.escape_debug()
            ),
        ));
    }
    Ok(())
}

/// The schema name as a quoted SQL identifier (after [`validate_schema_name`], quoting is only
/// belt and braces).
pub fn quoted(schema: &str) -> String {
    format!("\"{}\"", schema.replace('"', "\"\""))
}

/// Migration 0 → 1: the tables, their indexes and `skald_append`.
const MIGRATION_1: &str = r#"
CREATE SCHEMA IF NOT EXISTS {s};

CREATE TABLE {s}.skald_schema_version (version int4 NOT NULL);

CREATE TABLE {s}.head (
    singleton bool PRIMARY KEY DEFAULT true CHECK (singleton),
    next_position int8 NOT NULL,
    last_time_us int8 NOT NULL
);
INSERT INTO {s}.head (singleton, next_position, last_time_us) VALUES (true, 0, 0);

CREATE TABLE {s}.events (
    position int8 PRIMARY KEY,
    stream text COLLATE "C" NOT NULL,
    version int8 NOT NULL,
    id uuid NOT NULL UNIQUE,
    type text COLLATE "C" NOT NULL,
    time_us int8 NOT NULL,
    data bytea NOT NULL,
    metadata bytea NOT NULL,
    UNIQUE (stream, version)
);
CREATE INDEX events_category ON {s}.events (split_part(stream, '-', 1), position);
CREATE INDEX events_type ON {s}.events (type, position);

CREATE TABLE {s}.streams (
    stream text COLLATE "C" PRIMARY KEY,
    metadata bytea
);

CREATE TABLE {s}.commits (
    time_us int8 NOT NULL,
    last_position int8 NOT NULL,
    PRIMARY KEY (time_us, last_position)
);

CREATE FUNCTION {s}.skald_append(
    g_stream text[], g_known int8[], g_epoch int8,
    p_append int4[], p_slot int4[], p_expected int8[], p_count int4[],
    p_described text[], p_metadata bytea[],
    e_part int4[], e_id uuid[], e_type text[], e_data bytea[], e_metadata bytea[],
    OUT o_status int4[], OUT o_actual int8[], OUT o_version int8[], OUT o_position int8[], OUT o_head int8,
    OUT o_heads int8[], OUT o_known_held bool)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_parts int4 := coalesce(array_length(p_append, 1), 0);
    v_start int8;
    v_next int8;
    v_time int8;
    v_heads int8[];
    v_new bool[];
    v_stored int4[];
    v_first_event int4[] := array_fill(0, ARRAY[v_parts]);
    v_event int4 := 1;
    v_attempt int4;
    v_i int4;
    v_j int4;
    v_k int4;
    v_slot int4;
    v_count int4;
    v_expected int8;
    v_failed int4;
    v_h int8;
BEGIN
    -- Every commit of every node passes here, one at a time, until its transaction ends: the
    -- counter below hands out positions in commit order, and a rollback hands out none.
    PERFORM pg_advisory_xact_lock({lock_class}, hashtext('{name}'));
    SELECT h.next_position, greatest(h.last_time_us, (extract(epoch FROM clock_timestamp()) * 1000000)::int8)
        INTO v_start, v_time FROM {s}.head h;
    FOR v_k IN 1..v_parts LOOP
        v_first_event[v_k] := v_event;
        v_event := v_event + p_count[v_k];
    END LOOP;
    -- Attempt 1 assumes that no id of an append that passes its checks is stored yet (the unique
    -- index on id checks that while inserting, for free); if one is, the attempt is undone and
    -- attempt 2 first finds which appends hold stored ids. Probing every id up front cost as much
    -- as a third of a 1,000-event call.
    <<attempts>>
    FOR v_attempt IN 1..2 LOOP
        BEGIN
            v_next := v_start;
            o_status := array_fill(3, ARRAY[v_parts]);
            o_actual := array_fill(NULL::int8, ARRAY[v_parts]);
            o_version := array_fill(NULL::int8, ARRAY[v_parts]);
            o_position := array_fill(NULL::int8, ARRAY[v_parts]);
            v_new := array_fill(false, ARRAY[coalesce(array_length(g_stream, 1), 0)]);
            -- A stream's head is its last event: one probe of (stream, version) each, and no
            -- table of heads to update at every append. (A scalar max() per stream plans to
            -- a cheaper loop than a lateral join: a third of the time.) The node's cached heads
            -- (`g_known`: -1 no stream, NULL unknown) are exact when nothing was committed since
            -- its last commit (`g_epoch`, the next position then): those need no probe.
            o_known_held := g_epoch IS NOT DISTINCT FROM v_start;
            v_heads := ARRAY(SELECT CASE WHEN o_known_held AND g.known IS NOT NULL THEN nullif(g.known, -1)
                                    ELSE (SELECT max(x.version) FROM {s}.events x WHERE x.stream = g.name) END
                             FROM unnest(g_stream, g_known) WITH ORDINALITY AS g(name, known, slot)
                             ORDER BY g.slot);
            v_stored := '{}';
            IF v_attempt = 2 THEN
                SELECT coalesce(array_agg(DISTINCT p_append[e.part]), '{}') INTO v_stored
                    FROM unnest(e_part, e_id) AS e(part, id)
                    WHERE EXISTS (SELECT 1 FROM {s}.events x WHERE x.id = e.id);
            END IF;
            -- Appends in order, each checked alone against the heads left by the ones before it.
            -- (Hot loop: every array element is read once into a variable.)
            v_i := 1;
            WHILE v_i <= v_parts LOOP
                v_j := v_i;
                WHILE v_j < v_parts AND p_append[v_j + 1] = p_append[v_i] LOOP v_j := v_j + 1; END LOOP;
                v_failed := 0;
                IF v_attempt = 2 AND p_append[v_i] = ANY (v_stored) THEN
                    v_failed := -1;
                ELSE
                    FOR v_k IN v_i..v_j LOOP
                        v_expected := p_expected[v_k];
                        IF v_expected <> -1 THEN
                            v_h := v_heads[p_slot[v_k]];
                            IF (CASE v_expected WHEN -2 THEN v_h IS NOT NULL WHEN -3 THEN v_h IS NULL
                                ELSE v_h IS DISTINCT FROM v_expected END) THEN
                                v_failed := v_k;
                                EXIT;
                            END IF;
                        END IF;
                    END LOOP;
                    -- A refused append may be a retry (answered from its stored ids instead):
                    -- attempt 1 has not looked for its ids yet.
                    IF v_failed > 0 AND v_attempt = 1 AND EXISTS (SELECT 1 FROM {s}.events x WHERE x.id = ANY (
                            e_id[v_first_event[v_i]:v_first_event[v_j] + p_count[v_j] - 1])) THEN
                        v_failed := -1;
                    END IF;
                END IF;
                IF v_failed = -1 THEN
                    FOR v_k IN v_i..v_j LOOP o_status[v_k] := 1; END LOOP;
                ELSIF v_failed > 0 THEN
                    o_status[v_failed] := 2;
                    o_actual[v_failed] := v_heads[p_slot[v_failed]];
                ELSE
                    FOR v_k IN v_i..v_j LOOP
                        o_status[v_k] := 0;
                        v_count := p_count[v_k];
                        IF v_count > 0 THEN
                            v_slot := p_slot[v_k];
                            v_h := v_heads[v_slot];
                            IF v_h IS NULL THEN
                                v_new[v_slot] := true;
                                v_h := -1;
                            END IF;
                            o_version[v_k] := v_h + 1;
                            o_position[v_k] := v_next;
                            v_heads[v_slot] := v_h + v_count;
                            v_next := v_next + v_count;
                        END IF;
                    END LOOP;
                END IF;
                v_i := v_j + 1;
            END LOOP;
            IF v_next > v_start THEN
                INSERT INTO {s}.events (position, stream, version, id, type, time_us, data, metadata)
                SELECT o_position[e.part] + (e.n - v_first_event[e.part]), g_stream[p_slot[e.part]],
                       o_version[e.part] + (e.n - v_first_event[e.part]), e.id, e.type, v_time, e.data, e.meta
                FROM unnest(e_part, e_id, e_type, e_data, e_metadata)
                     WITH ORDINALITY AS e(part, id, type, data, meta, n)
                WHERE o_status[e.part] = 0;
            END IF;
            EXIT attempts;
        EXCEPTION WHEN unique_violation THEN
            IF v_attempt = 2 THEN
                RAISE;
            END IF;
        END;
    END LOOP;
    IF v_next > v_start THEN
        -- The stream list: a row per stream, made by its first event (or its metadata).
        INSERT INTO {s}.streams AS st (stream)
        SELECT g_stream[g.slot] FROM generate_subscripts(g_stream, 1) AS g(slot) WHERE v_new[g.slot]
        ON CONFLICT (stream) DO NOTHING;
        -- The last metadata written for a stream in this call wins, as it would one by one.
        IF cardinality(array_remove(p_described, NULL)) > 0 THEN
            INSERT INTO {s}.streams AS st (stream, metadata)
            SELECT DISTINCT ON (p_described[p.n]) p_described[p.n], p_metadata[p.n]
            FROM generate_subscripts(p_append, 1) AS p(n)
            WHERE o_status[p.n] = 0 AND p_described[p.n] IS NOT NULL
            ORDER BY p_described[p.n], p.n DESC
            ON CONFLICT (stream) DO UPDATE SET metadata = excluded.metadata;
        END IF;
        INSERT INTO {s}.commits (time_us, last_position) VALUES (v_time, v_next - 1);
        UPDATE {s}.head SET next_position = v_next, last_time_us = v_time;
        PERFORM pg_notify('{name}', (v_next - 1)::text);
    END IF;
    o_head := v_next - 1;
    o_heads := v_heads;
END
$fn$;
"#;

/// Version 2: the nodes sharing the schema and their heartbeats (`crate::membership`).
const MIGRATION_2: &str = r#"
CREATE TABLE {s}.nodes (
    id text COLLATE "C" PRIMARY KEY,
    address text NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL
);
"#;

/// `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [MIGRATION_1, MIGRATION_2];

/// Fills in the schema's quoted name (`{s}`), its bare name (`{name}`) and the lock class.
fn expand(template: &str, schema: &str) -> String {
    template
        .replace("{s}", &quoted(schema))
        .replace("{name}", schema)
        .replace("{lock_class}", &APPEND_LOCK_CLASS.to_string())
}

/// Brings `schema` to [`SCHEMA_VERSION`], or refuses a schema that is newer.
///
/// One transaction under an advisory lock: a second node starting at the same moment waits, then
/// finds the schema current and applies nothing.
pub async fn migrate(client: &mut Client, schema: &str) -> Result<(), Error> {
    let transaction = client.transaction().await.map_err(fail::from_pg)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", &[&MIGRATE_LOCK_CLASS, &schema])
        .await
        .map_err(fail::from_pg)?;
    let table = format!("{}.skald_schema_version", quoted(schema));
    let exists: bool = transaction
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(fail::from_pg)?;
    let current: i32 = if exists {
        let row =
            transaction.query_opt(&format!("SELECT max(version) FROM {table}"), &[]).await.map_err(fail::from_pg)?;
        let version: Option<i32> = match row {
            Some(row) => crate::fail::column(&row, 0)?,
            None => None,
        };
        version.unwrap_or(0)
    } else {
        0
    };
    if current > SCHEMA_VERSION {
        return Err(Error::Storage(format!(
            "schema `{schema}` is at version {current}, but this build of Skald knows versions up to \
             {SCHEMA_VERSION}: upgrade Skald to a release that knows version {current} (never downgrade a \
             database), or point this node at another schema"
        )));
    }
    for (from, migration) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        transaction.batch_execute(&expand(migration, schema)).await.map_err(|error| {
            Error::Storage(format!("migrating schema `{schema}` from version {from}: {}", fail::describe(&error)))
        })?;
    }
    if current < SCHEMA_VERSION {
        transaction.execute(&format!("DELETE FROM {table}"), &[]).await.map_err(fail::from_pg)?;
        transaction
            .execute(&format!("INSERT INTO {table} (version) VALUES ($1)"), &[&SCHEMA_VERSION])
            .await
            .map_err(fail::from_pg)?;
    }
    transaction.commit().await.map_err(fail::from_pg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked() {
        assert!(validate_schema_name("skald").is_ok());
        assert!(validate_schema_name("skald_test_01").is_ok());
        for bad in ["", "1abc", "Skald", "a-b", "a\"b", &"x".repeat(64)] {
            assert!(validate_schema_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_are_filled_in() {
        let sql = expand(MIGRATION_1, "skald");
        assert!(!sql.contains("{s}") && !sql.contains("{name}") && !sql.contains("{lock_class}"));
        assert!(sql.contains("CREATE TABLE \"skald\".events"));
    }
}
