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
    pub addr: Option<SocketAddr>,
    /// `fsync` (default) or `relaxed`.
    pub sync: Option<String>,
    pub segment_bytes: Option<u64>,
    pub index_cache_bytes: Option<usize>,
}

impl FileConfig {
    /// Reads and checks a config file; errors name the file and the bad field.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
    }
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
