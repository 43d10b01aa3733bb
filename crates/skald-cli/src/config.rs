//! Settings of `skald serve`: defaults, then a TOML file, then environment variables, then flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;
use skald_log::{Options, SyncMode};

/// The default data directory, relative to where `skald` runs.
pub const DATA_DIR_DEFAULT: &str = "./skald-data";
/// The default listen address.
pub const ADDR_DEFAULT: &str = "127.0.0.1:7070";

/// What a config file may hold. Every field is optional; unknown fields are an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    /// A PostgreSQL URL instead of the embedded store.
    pub backend: Option<String>,
    /// The PostgreSQL schema (`skald` by default).
    pub pg_schema: Option<String>,
    pub addr: Option<SocketAddr>,
    /// How other nodes reach this one.
    pub advertise: Option<String>,
    /// `fsync` (default) or `relaxed`.
    pub sync: Option<String>,
    pub segment_bytes: Option<u64>,
    pub index_cache_bytes: Option<usize>,
    /// Largest saga execution input, in bytes (256 KiB by default).
    pub execution_input_bytes_max: Option<usize>,
    /// Saga task resources: a plain name or a Lambda ARN mapped to the URL Skald POSTs to.
    #[serde(default)]
    pub resources: std::collections::BTreeMap<String, String>,
}

impl FileConfig {
    /// Reads and checks a config file; errors name the file and the bad field.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
    }
}

/// Parses `NAME=URL` (a saga task resource given on the command line).
pub fn parse_resource(text: &str) -> anyhow::Result<(String, String)> {
    let (name, url) = text.split_once('=').ok_or_else(|| {
        anyhow::anyhow!("resource `{text}` is not NAME=URL, e.g. ReserveFlight=http://127.0.0.1:9001/flight")
    })?;
    anyhow::ensure!(!name.is_empty(), "resource `{text}` has an empty name");
    anyhow::ensure!(
        url.starts_with("http://") || url.starts_with("https://"),
        "resource `{name}`: `{url}` is not an http:// URL"
    );
    Ok((name.to_owned(), url.to_owned()))
}

/// Parses a sync mode name.
pub fn parse_sync(text: &str) -> anyhow::Result<SyncMode> {
    match text {
        "fsync" => Ok(SyncMode::Fsync),
        "relaxed" => Ok(SyncMode::Relaxed),
        other => anyhow::bail!("sync mode `{other}` is unknown; use `fsync` (durable, default) or `relaxed`"),
    }
}

/// Store options from a file config (defaults where it is silent).
pub fn store_options(file: &FileConfig, sync: Option<&str>) -> anyhow::Result<Options> {
    let mut options = Options::default();
    if let Some(sync) = sync.or(file.sync.as_deref()) {
        options.sync = parse_sync(sync)?;
    }
    if let Some(bytes) = file.segment_bytes {
        anyhow::ensure!(bytes >= 4096, "segment_bytes must be at least 4096, not {bytes}");
        options.segment_bytes_target = bytes;
    }
    if let Some(bytes) = file.index_cache_bytes {
        options.index_cache_bytes = bytes;
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_files_are_checked_field_by_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skald.toml");
        std::fs::write(&path, "data_dir = \"/srv/skald\"\naddr = \"0.0.0.0:9000\"\nsync = \"relaxed\"\n").unwrap();
        let file = FileConfig::load(&path).unwrap();
        assert_eq!(file.addr, Some("0.0.0.0:9000".parse().unwrap()));
        assert_eq!(store_options(&file, None).unwrap().sync, SyncMode::Relaxed);
        assert_eq!(store_options(&file, Some("fsync")).unwrap().sync, SyncMode::Fsync, "a flag beats the file");

        std::fs::write(&path, "data_dri = \"x\"\n").unwrap();
        let error = format!("{:#}", FileConfig::load(&path).unwrap_err());
        assert!(error.contains("skald.toml") && error.contains("data_dri"), "names the file and field: {error}");
        std::fs::write(&path, "segment_bytes = 10\n").unwrap();
        let error = store_options(&FileConfig::load(&path).unwrap(), None).unwrap_err().to_string();
        assert!(error.contains("at least 4096"), "{error}");
        assert!(parse_sync("sometimes").unwrap_err().to_string().contains("`fsync`"));
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:ReserveFlight";
        assert_eq!(parse_resource(&format!("{arn}=http://127.0.0.1:9001/f")).unwrap().0, arn);
        assert!(parse_resource("Flight").unwrap_err().to_string().contains("NAME=URL"));
        assert!(parse_resource("Flight=ftp://x").unwrap_err().to_string().contains("http://"));
        std::fs::write(&path, "[resources]\nReserveCar = \"http://127.0.0.1:9002/car\"\n").unwrap();
        assert_eq!(FileConfig::load(&path).unwrap().resources["ReserveCar"], "http://127.0.0.1:9002/car");
    }
}
