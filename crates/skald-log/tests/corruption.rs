//! Damaged files: a torn tail is cut back to the last whole append; a flipped bit anywhere before
//! the tail stops the open with an error naming the file and offset; a missing or damaged index is
//! rebuilt from the log.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde_json::json;
use skald_core::{Error, EventStore, NewEvent, ReadOptions, Selector, StreamAppend};
use skald_log::segment::list_segments;
use skald_log::storage::OsStorage;
use skald_log::{verify, Options, Store};

fn options() -> Options {
    Options { segment_bytes_target: 4096, ..Options::default() }
}

/// Writes `appends` appends of three events each and returns the store directory.
fn write_store(appends: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    append_to(dir.path(), 0..appends);
    dir
}

/// Appends `appends` of three events each to the store in `dir`, and closes it (its last
/// checkpoint covers them all).
fn append_to(dir: &Path, appends: std::ops::Range<u64>) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let store = Store::open(dir, options()).unwrap();
        for i in appends {
            let events = (0..3).map(|j| NewEvent::new("E", json!({"i": i, "j": j, "pad": "p".repeat(40)}))).collect();
            store.append(vec![StreamAppend::new(format!("s-{}", i % 5), events)]).await.unwrap();
        }
        store.close();
    });
}

/// A store of `appends` appends whose last one is past the last index checkpoint, as a crash
/// leaves it: written with a checkpoint after the one before, then given that checkpoint's index.
fn write_store_past_checkpoint(appends: u64) -> tempfile::TempDir {
    let dir = write_store(appends - 1);
    let index = dir.path().join("index.redb");
    let checkpointed = fs::read(&index).unwrap();
    append_to(dir.path(), appends - 1..appends);
    fs::write(&index, checkpointed).unwrap();
    dir
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    list_segments(&OsStorage, &dir.join("segments")).unwrap().into_iter().map(|(_, p)| p).collect()
}

fn all_positions(dir: &Path) -> Result<Vec<u64>, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let store = Store::open(dir, options())?;
        let page = store.read(&Selector::All, ReadOptions::forward(0, 10_000)).await?;
        store.close();
        Ok(page.events.iter().map(|e| e.position).collect())
    })
}

/// Where the frames of the active segment end: the file goes on with the zeroed tail written ahead
/// (a frame ends with its metadata JSON, never with a zero byte).
fn frames_end(path: &Path) -> u64 {
    let bytes = fs::read(path).unwrap();
    bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i as u64 + 1)
}

fn flip_bit(path: &Path, offset: u64) {
    let file = OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).unwrap();
    byte[0] ^= 0x10;
    file.write_all_at(&byte, offset).unwrap();
}

#[test]
fn torn_tail_is_cut_to_the_last_whole_append() {
    let dir = write_store_past_checkpoint(60);
    assert!(segments(dir.path()).len() > 3, "the test wants several segments");
    let last = segments(dir.path()).pop().unwrap();
    let len = frames_end(&last);
    // Tear the last append in the middle of its second event: the whole append must go.
    let file = OpenOptions::new().write(true).open(&last).unwrap();
    file.set_len(len - 100).unwrap();
    drop(file);
    let store_positions = {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let store = Store::open(dir.path(), options()).unwrap();
            let (file, offset, bytes, _) = store.recovery_report().cut_tail.clone().expect("the cut is reported");
            assert_eq!(file, last);
            assert!(offset < len - 100 && bytes > 0);
            let page = store.read(&Selector::All, ReadOptions::forward(0, 10_000)).await.unwrap();
            // The torn append can be written again, and lands right after the survivors.
            let outcome =
                store.append(vec![StreamAppend::new("s-new", vec![NewEvent::new("E", json!({}))])]).await.unwrap();
            assert_eq!(outcome.streams[0].first_position, page.events.len() as u64);
            store.close();
            page.events.iter().map(|e| e.position).collect::<Vec<_>>()
        })
    };
    assert_eq!(store_positions, (0..177).collect::<Vec<_>>(), "59 whole appends of 3 events remain");
    assert_eq!(all_positions(dir.path()).unwrap().len(), 178);
}

#[test]
fn garbage_after_the_tail_is_cut() {
    let dir = write_store(10);
    let last = segments(dir.path()).pop().unwrap();
    let len = fs::metadata(&last).unwrap().len();
    let file = OpenOptions::new().write(true).open(&last).unwrap();
    file.write_all_at(&[0u8; 4096], len).unwrap(); // a torn write that left zeros
    file.write_all_at(b"garbage", len + 4096).unwrap();
    drop(file);
    assert_eq!(all_positions(dir.path()).unwrap().len(), 30);
}

#[test]
fn flipped_bit_in_the_last_record_past_the_last_checkpoint_is_cut_and_reported() {
    let dir = write_store_past_checkpoint(10);
    let last = segments(dir.path()).pop().unwrap();
    let len = frames_end(&last);
    flip_bit(&last, len - 5);
    // Past the last checkpoint, indistinguishable from a torn write of the last append: that
    // append (3 events) is cut, and the cut is reported, never silent.
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let store = Store::open(dir.path(), options()).unwrap();
        let (_, _, _, reason) = store.recovery_report().cut_tail.clone().expect("cut is reported");
        assert!(reason.contains("checksum"), "{reason}");
        assert_eq!(store.head_position(), Some(26));
        store.close();
    });
}

#[test]
fn flipped_bit_in_the_last_record_a_checkpoint_covers_stops_the_open() {
    let dir = write_store(10);
    let last = segments(dir.path()).pop().unwrap();
    let len = frames_end(&last);
    flip_bit(&last, len - 5);
    // The clean close checkpointed it after its fsync: it was durable, so this is damage.
    let error = all_positions(dir.path()).unwrap_err();
    let Error::Corrupt { file, offset, reason, .. } = &error else { panic!("expected corrupt-data, got {error:?}") };
    assert_eq!(file, &last);
    assert!(*offset < len && reason.contains("checkpoint"), "{error}");
}

#[test]
fn flipped_bit_before_the_tail_of_the_last_segment_stops_the_open() {
    let dir = write_store(10);
    let last = segments(dir.path()).pop().unwrap();
    flip_bit(&last, 32 + 20); // inside the first frame of the last segment, with frames after it
    let error = all_positions(dir.path()).unwrap_err();
    let Error::Corrupt { file, offset, .. } = &error else { panic!("expected corrupt-data, got {error:?}") };
    assert_eq!(file, &last);
    assert_eq!(*offset, 32);
    assert!(error.to_string().contains("skald verify"), "the error names the command to run: {error}");
}

#[test]
fn flipped_bit_in_an_older_segment_stops_the_open_with_file_and_offset() {
    let dir = write_store(60);
    let older = segments(dir.path())[1].clone();
    flip_bit(&older, 500);
    let error = all_positions(dir.path()).unwrap_err();
    let Error::Corrupt { file, offset, .. } = &error else { panic!("expected corrupt-data, got {error:?}") };
    assert_eq!(file, &older);
    assert!(*offset <= 500 && *offset >= 32, "offset {offset} names the damaged frame");
    let report = verify(dir.path(), |_| {}).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].contains(&older.display().to_string()));
}

#[test]
fn missing_segment_stops_the_open() {
    let dir = write_store(60);
    fs::remove_file(&segments(dir.path())[1]).unwrap();
    let error = all_positions(dir.path()).unwrap_err();
    assert!(error.to_string().contains("a segment is missing"), "{error}");
}

#[test]
fn missing_index_is_rebuilt_from_the_log() {
    let dir = write_store(60);
    let before = all_positions(dir.path()).unwrap();
    fs::remove_file(dir.path().join("index.redb")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let store = Store::open(dir.path(), options()).unwrap();
        assert!(store.recovery_report().index_rebuilt);
        assert_eq!(store.recovery_report().replayed_events, 180);
        let stream = store.read(&Selector::Stream("s-3".into()), ReadOptions::forward(0, 1000)).await.unwrap();
        assert_eq!(stream.events.len(), 36);
        let category = store.read(&Selector::Category("s".into()), ReadOptions::forward(0, 1000)).await.unwrap();
        assert_eq!(category.events.len(), 180);
        store.close();
    });
    assert_eq!(all_positions(dir.path()).unwrap(), before);
}

#[test]
fn damaged_index_file_is_rebuilt_from_the_log() {
    let dir = write_store(20);
    fs::write(dir.path().join("index.redb"), b"not a database at all").unwrap();
    assert_eq!(all_positions(dir.path()).unwrap().len(), 60);
}

#[test]
fn a_second_process_cannot_open_the_same_store() {
    let dir = write_store(1);
    let first = Store::open(dir.path(), options()).unwrap();
    let Err(error) = Store::open(dir.path(), options()) else { panic!("second open succeeded") };
    assert!(error.to_string().contains("in use"), "{error}");
    first.close();
}

#[test]
fn the_zeroed_tail_is_the_end_of_the_log_not_damage() {
    let dir = write_store(10);
    let last = segments(dir.path()).pop().unwrap();
    let (end, len) = (frames_end(&last), fs::metadata(&last).unwrap().len());
    assert!(len >= end + skald_log::segment::PREALLOCATE_BYTES, "zeros are written ahead: {end} of {len} bytes");
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let store = Store::open(dir.path(), options()).unwrap();
        assert_eq!(store.recovery_report().cut_tail, None, "zeros are not a torn tail");
        assert_eq!(store.head_position(), Some(29));
        store.append(vec![StreamAppend::new("s-new", vec![NewEvent::new("E", json!({}))])]).await.unwrap();
        store.close();
    });
    assert_eq!(all_positions(dir.path()).unwrap(), (0..31).collect::<Vec<_>>());
}

#[test]
fn zeros_after_a_seal_are_cut_when_the_store_opens() {
    let dir = write_store(60);
    // A crash after the seal frame was durable but before the cut of the zeroed tail was, and
    // before the next segment existed.
    let mut files = segments(dir.path());
    fs::remove_file(files.pop().unwrap()).unwrap();
    let sealed = files.pop().unwrap();
    let sealed_len = fs::metadata(&sealed).unwrap().len();
    OpenOptions::new().write(true).open(&sealed).unwrap().write_all_at(&[0u8; 8192], sealed_len).unwrap();
    let kept = all_positions(dir.path()).unwrap();
    assert!(!kept.is_empty());
    assert_eq!(fs::metadata(&sealed).unwrap().len(), sealed_len, "the segment ends with its seal again");
    let report = verify(dir.path(), |_| {}).unwrap();
    assert!(report.problems.is_empty() && report.torn_tail.is_none(), "{:?}", report.problems);
    // It is a segment before the last one now, and the store opens again with it.
    assert_eq!(all_positions(dir.path()).unwrap(), kept);
}
