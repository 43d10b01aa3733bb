//! The fsync probe: the disk's `fdatasync` rate appending to a file (how a file grows) and
//! overwriting written zeros (how the embedded store writes its active segment). Every durable
//! figure depends on it, and on this kind of machine it drifts over time, so `skald bench` runs
//! it before and after its workloads.

use std::fs::OpenOptions;
use std::io::{Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::{BenchError, Result};

/// One probe's figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FsyncProbe {
    /// 4 KiB write + `fdatasync` per second, appending.
    pub fsyncs_per_second: f64,
    /// Their median, in µs.
    pub p50_us: u64,
    /// The same, overwriting zeros written beforehand.
    pub overwrite_fsyncs_per_second: f64,
    /// Their median, in µs.
    pub overwrite_p50_us: u64,
}

/// Times 4 KiB writes each followed by `fdatasync` for one second appending to a new file in
/// `dir`, then for one second overwriting a file of zeros written beforehand.
pub fn fsync_probe(dir: &Path) -> Result<FsyncProbe> {
    let path = dir.join("fsync-probe.tmp");
    let io = BenchError::io(format!("probing fsync in {}", dir.display()));
    let probe = (|| {
        let (fsyncs_per_second, p50_us) = time_fsyncs(&path, false)?;
        let (overwrite_fsyncs_per_second, overwrite_p50_us) = time_fsyncs(&path, true)?;
        std::fs::remove_file(&path)?;
        Ok(FsyncProbe { fsyncs_per_second, p50_us, overwrite_fsyncs_per_second, overwrite_p50_us })
    })();
    probe.map_err(io)
}

/// `(fdatasync/s, p50 µs)` of 4 KiB writes at the end of `path`, over zeros if `over_zeros`.
fn time_fsyncs(path: &Path, over_zeros: bool) -> std::io::Result<(f64, u64)> {
    /// Enough for one second at the fastest rate seen here (~10k/s).
    const ZEROED_BYTES: usize = 64 * 1024 * 1024;
    let mut file = OpenOptions::new().create(true).write(true).truncate(true).open(path)?;
    if over_zeros {
        file.write_all(&vec![0u8; ZEROED_BYTES])?;
        file.sync_all()?;
        file.seek(std::io::SeekFrom::Start(0))?;
    }
    let block = vec![7u8; 4096];
    let mut samples = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) && (samples.len() + 1) * block.len() <= ZEROED_BYTES {
        let t = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        samples.push(t.elapsed().as_micros() as u64);
    }
    samples.sort_unstable();
    Ok((samples.len() as f64 / started.elapsed().as_secs_f64(), samples[samples.len() / 2]))
}
