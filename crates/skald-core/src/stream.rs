//! Stream names: validation and categories.
//!
//! A stream name is 1..=[`STREAM_NAME_BYTES_MAX`] bytes of UTF-8 with no control characters and
//! no `/` (it appears in URL paths). Its *category* is the text before the first `-`
//! (`order-42` → `order`); a name without `-` is its own category. Names starting with `$` are
//! reserved for Skald itself (`$exec-…`, `$sub-…`, `$meta-…`); users may read them but not write them.

use crate::limits::STREAM_NAME_BYTES_MAX;
use crate::Error;

/// The prefix of every stream Skald writes for itself.
pub const RESERVED_PREFIX: char = '$';
/// Where the metadata of stream `s` is kept: the stream `$meta-s`.
pub const METADATA_STREAM_PREFIX: &str = "$meta-";
/// The event type of a metadata event.
pub const METADATA_EVENT_TYPE: &str = "$metadata";

/// Checks a stream name that a user wants to write to.
pub fn validate_user_stream(name: &str) -> Result<(), Error> {
    validate_stream_name(name)?;
    if name.starts_with(RESERVED_PREFIX) {
        return Err(Error::invalid(
            "stream",
            format!("stream name `{name}` starts with `$`, which is reserved for Skald's own streams"),
        ));
    }
    Ok(())
}

/// Checks any stream name (user or system).
pub fn validate_stream_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::invalid("stream", "stream name is empty"));
    }
    if name.len() > STREAM_NAME_BYTES_MAX {
        return Err(Error::invalid(
            "stream",
            format!("stream name is {} bytes; the limit is {STREAM_NAME_BYTES_MAX} bytes", name.len()),
        ));
    }
    if let Some(bad) = name.chars().find(|c| c.is_control() || *c == '/') {
        return Err(Error::invalid(
            "stream",
            format!(
                "stream name `{}` contains {bad:?}; control characters and `/` are not allowed",
                name.escape_debug()
            ),
        ));
    }
    Ok(())
}

/// The category of a stream: the text before the first `-`, or the whole name.
///
/// ```
/// assert_eq!(skald_core::category_of("order-42"), "order");
/// assert_eq!(skald_core::category_of("$exec-7f3a"), "$exec");
/// assert_eq!(skald_core::category_of("audit"), "audit");
/// ```
pub fn category_of(stream: &str) -> &str {
    stream.split_once('-').map_or(stream, |(category, _)| category)
}

/// The stream that holds the metadata of `stream`.
pub fn metadata_stream_of(stream: &str) -> String {
    format!("{METADATA_STREAM_PREFIX}{stream}")
}

/// If `stream` is a metadata stream, the stream it describes.
pub fn described_by_metadata_stream(stream: &str) -> Option<&str> {
    stream.strip_prefix(METADATA_STREAM_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_with_reasons() {
        assert!(validate_user_stream("order-1").is_ok());
        assert!(validate_user_stream("").unwrap_err().to_string().contains("empty"));
        assert!(validate_user_stream("$exec-1").unwrap_err().to_string().contains("reserved"));
        assert!(validate_user_stream("a/b").unwrap_err().to_string().contains("`/`"));
        let long = "x".repeat(STREAM_NAME_BYTES_MAX + 1);
        assert!(validate_user_stream(&long).unwrap_err().to_string().contains("limit"));
        assert!(validate_stream_name("$exec-1").is_ok());
    }

    #[test]
    fn metadata_streams_round_trip() {
        assert_eq!(described_by_metadata_stream(&metadata_stream_of("order-1")), Some("order-1"));
        assert_eq!(described_by_metadata_stream("order-1"), None);
    }
}
