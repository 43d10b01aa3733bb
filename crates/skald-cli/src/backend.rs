//! Which store a command runs on: the embedded engine in a data directory (the default), or
//! PostgreSQL when `--backend postgres://…` says so (cargo feature `postgres`, on by default).
//! This is the one place that picks a backend; everything above it sees `Arc<dyn EventStore>`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use skald_core::{EventStore, Membership};

/// Where the events live, as the user says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendSpec {
    /// The embedded engine in this directory.
    Embedded(PathBuf),
    /// PostgreSQL at this URL, in this schema.
    Postgres { url: String, schema: String },
}

impl BackendSpec {
    /// Reads `--backend` (a `postgres://` or `postgresql://` URL, or `embedded`), falling back to the
    /// embedded engine in `data_dir`.
    pub fn parse(backend: Option<&str>, schema: Option<&str>, data_dir: PathBuf) -> anyhow::Result<BackendSpec> {
        match backend {
            None | Some("embedded") => Ok(BackendSpec::Embedded(data_dir)),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(BackendSpec::Postgres { url: url.to_owned(), schema: schema.unwrap_or("skald").to_owned() })
            }
            Some(other) => anyhow::bail!(
                "backend `{other}` is not known: give a PostgreSQL URL (postgres://user@host:5432/db) or leave \
                 --backend out for the embedded store in --data-dir"
            ),
        }
    }

    /// Says where, for banners and logs (without a password the URL may hold).
    pub fn describe(&self) -> String {
        match self {
            BackendSpec::Embedded(dir) => format!("data dir: {}", dir.display()),
            BackendSpec::Postgres { url, schema } => {
                let host = url.rsplit_once('@').map_or(url.as_str(), |(_, host)| host);
                format!("PostgreSQL {host}, schema {schema}")
            }
        }
    }
}

/// An open store.
#[derive(Clone)]
pub enum Backend {
    /// The embedded engine.
    Embedded(skald_log::Store),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(skald_postgres::PgStore),
}

impl Backend {
    /// Opens the store `spec` names; the embedded one with `options`.
    pub async fn open(spec: &BackendSpec, options: skald_log::Options) -> anyhow::Result<Backend> {
        match spec {
            BackendSpec::Embedded(dir) => {
                let opened = {
                    let dir = dir.clone();
                    tokio::task::spawn_blocking(move || skald_log::Store::open(&dir, options)).await?
                };
                let store = opened.with_context(|| format!("cannot open the store in {}", dir.display()))?;
                report_recovery(&store);
                Ok(Backend::Embedded(store))
            }
            #[cfg(feature = "postgres")]
            BackendSpec::Postgres { url, schema } => {
                let options =
                    skald_postgres::PgOptions { schema: schema.clone(), ..skald_postgres::PgOptions::new(url) };
                let store = skald_postgres::PgStore::connect(options)
                    .await
                    .with_context(|| format!("cannot connect to {}", spec.describe()))?;
                Ok(Backend::Postgres(store))
            }
            #[cfg(not(feature = "postgres"))]
            BackendSpec::Postgres { .. } => {
                anyhow::bail!("this build of skald has no PostgreSQL backend; build it with `--features postgres`")
            }
        }
    }

    /// The store as every service sees it.
    pub fn store(&self) -> Arc<dyn EventStore> {
        match self {
            Backend::Embedded(store) => Arc::new(store.clone()),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => Arc::new(store.clone()),
        }
    }

    /// The membership of the nodes sharing this store; `None` for the embedded engine, which one
    /// process owns alone.
    pub fn membership(&self) -> Option<Arc<dyn Membership>> {
        match self {
            Backend::Embedded(_) => None,
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => Some(Arc::new(store.clone())),
        }
    }

    /// Finishes every queued append and closes the store.
    pub async fn close(self) -> anyhow::Result<()> {
        match self {
            Backend::Embedded(store) => tokio::task::spawn_blocking(move || store.close()).await?,
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.close().await,
        }
        Ok(())
    }
}

fn report_recovery(store: &skald_log::Store) {
    let report = store.recovery_report();
    if let Some((file, offset, bytes, reason)) = &report.cut_tail {
        eprintln!("recovered: cut {bytes} bytes of torn tail from {} at offset {offset} ({reason})", file.display());
    }
    if report.replayed_events > 0 {
        eprintln!("recovered: indexed {} events from the log", report.replayed_events);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_named_by_url() {
        let dir = PathBuf::from("./d");
        assert_eq!(BackendSpec::parse(None, None, dir.clone()).unwrap(), BackendSpec::Embedded(dir.clone()));
        let pg = BackendSpec::parse(Some("postgres://u:secret@db:5432/x"), None, dir.clone()).unwrap();
        assert_eq!(pg, BackendSpec::Postgres { url: "postgres://u:secret@db:5432/x".into(), schema: "skald".into() });
        assert!(!pg.describe().contains("secret"), "{}", pg.describe());
        let error = BackendSpec::parse(Some("mysql://x"), None, dir).unwrap_err().to_string();
        assert!(error.contains("PostgreSQL URL"), "{error}");
    }
}
