//! The on-disk format of segment files. This module is the format's specification.
//!
//! A store directory holds `segments/<first position, 20 digits>.seg` files and `index.redb`
//! (derived data, rebuildable from the segments). Everything is little-endian.
//!
//! ## Segment header (32 bytes)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `SKALDSEG` |
//! | 8 | 2 | format version ([`FORMAT_VERSION`]) |
//! | 10 | 2 | reserved, zero |
//! | 12 | 8 | position of the segment's first event |
//! | 20 | 8 | creation time, microseconds since the Unix epoch |
//! | 28 | 4 | CRC32C of bytes 0..28 |
//!
//! ## Frames
//!
//! After the header come frames: `length: u32` (bytes of payload), `crc: u32` (CRC32C of the
//! payload), then the payload. A payload starts with `kind: u8` and `flags: u8`.
//!
//! **Event** (`kind` = 1), fixed part 54 bytes, then the variable fields in this order:
//!
//! | size | field |
//! |---|---|
//! | 1 | kind = 1 |
//! | 1 | flags: bit 0 = last event of an atomic append ([`FLAG_END_OF_APPEND`]) |
//! | 8 | position |
//! | 8 | stream version |
//! | 8 | timestamp, microseconds since the Unix epoch |
//! | 16 | event id (UUID bytes) |
//! | 2 | stream name length *s* |
//! | 2 | event type length *t* |
//! | 4 | data length *d* |
//! | 4 | metadata length *m* |
//! | *s*, *t*, *d*, *m* | stream name, event type (UTF-8), data, metadata (JSON text) |
//!
//! **Seal** (`kind` = 2), the last frame of a sealed segment: `kind`, `flags` = 0,
//! `last_position: u64`, `event_count: u64`, `body_crc: u32` = CRC32C of every byte from the end of
//! the header to the start of the seal frame. A sealed segment never changes again, and
//! it carries everything needed to read it alone: that is what the archive ships.
//!
//! ## Invariants
//!
//! - Positions increase by exactly one from frame to frame, across segments too.
//! - The events of one append are contiguous, and only its last one has [`FLAG_END_OF_APPEND`]:
//!   recovery cuts the log back to the last such frame, so a torn append is removed whole.
//! - Frames are never rewritten. A store only ever truncates its unsealed tail on recovery.
//! - The last (active) segment may end in zeros after its last frame: space written ahead so that
//!   an fsync overwrites blocks instead of growing the file. A frame's length is at least 2, so a
//!   reader takes zeros where a frame should start for the end of the log. Sealing cuts them, so
//!   a sealed segment ends exactly with its seal frame.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use skald_core::{Json, RecordedEvent, Timestamp, Uuid};

/// `SKALDSEG`.
pub const SEGMENT_MAGIC: [u8; 8] = *b"SKALDSEG";
/// The format this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Bytes of the segment header.
pub const SEGMENT_HEADER_BYTES: usize = 32;
/// Bytes of a frame's length and CRC.
pub const FRAME_HEADER_BYTES: usize = 8;
/// Bytes of an event payload before its variable fields.
pub const EVENT_FIXED_BYTES: usize = 54;
/// Bytes of a seal payload.
pub const SEAL_PAYLOAD_BYTES: usize = 22;
/// Largest payload a frame may declare; a larger length is damage, not data.
pub const FRAME_PAYLOAD_BYTES_MAX: usize =
    EVENT_FIXED_BYTES + skald_core::limits::STREAM_NAME_BYTES_MAX + skald_core::limits::EVENT_SIZE_BYTES_MAX;

/// Payload kind of an event frame.
pub const KIND_EVENT: u8 = 1;
/// Payload kind of a seal frame.
pub const KIND_SEAL: u8 = 2;
/// Flag on the last event of an append.
pub const FLAG_END_OF_APPEND: u8 = 1;

/// The header of a segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Position of the first event the segment holds (or will hold).
    pub first_position: u64,
    /// When the segment was created.
    pub created: Timestamp,
}

impl SegmentHeader {
    /// Encodes the header.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES] {
        let mut out = [0u8; SEGMENT_HEADER_BYTES];
        out[0..8].copy_from_slice(&SEGMENT_MAGIC);
        out[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[12..20].copy_from_slice(&self.first_position.to_le_bytes());
        out[20..28].copy_from_slice(&self.created.micros().to_le_bytes());
        let crc = crc32c::crc32c(&out[0..28]);
        out[28..32].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and checks a header; the error says what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < SEGMENT_HEADER_BYTES {
            return Err(format!("file is {} bytes, shorter than a segment header", bytes.len()));
        }
        if bytes[0..8] != SEGMENT_MAGIC {
            return Err("not a Skald segment (bad magic)".into());
        }
        let crc = u32::from_le_bytes(bytes[28..32].try_into().expect("4 bytes"));
        if crc != crc32c::crc32c(&bytes[0..28]) {
            return Err("segment header checksum mismatch".into());
        }
        let version = u16::from_le_bytes(bytes[8..10].try_into().expect("2 bytes"));
        if version != FORMAT_VERSION {
            return Err(format!("segment format version {version}; this build reads version {FORMAT_VERSION}"));
        }
        Ok(SegmentHeader {
            first_position: u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes")),
            created: Timestamp(u64::from_le_bytes(bytes[20..28].try_into().expect("8 bytes"))),
        })
    }
}

/// An event's fields, borrowed: what the writer frames and the index records, without copies.
#[derive(Clone, Copy, Debug)]
pub struct EventView<'a> {
    pub position: u64,
    pub version: u64,
    pub timestamp: Timestamp,
    pub id: Uuid,
    pub stream: &'a str,
    pub event_type: &'a str,
    pub data: &'a [u8],
    pub metadata: &'a [u8],
}

impl<'a> EventView<'a> {
    /// A view of a stored event.
    pub fn of(event: &'a RecordedEvent) -> Self {
        EventView {
            position: event.position,
            version: event.version,
            timestamp: event.timestamp,
            id: event.id,
            stream: &event.stream,
            event_type: &event.event_type,
            data: event.data.as_bytes(),
            metadata: event.metadata.as_bytes(),
        }
    }
}

/// An event about to be framed.
pub struct EventFrame<'a> {
    pub event: EventView<'a>,
    /// Whether it is the last event of its append.
    pub end_of_append: bool,
}

impl EventFrame<'_> {
    /// Bytes the frame occupies on disk.
    pub fn frame_bytes(&self) -> usize {
        FRAME_HEADER_BYTES
            + EVENT_FIXED_BYTES
            + self.event.stream.len()
            + self.event.event_type.len()
            + self.event.data.len()
            + self.event.metadata.len()
    }

    /// Appends the frame to `out`.
    pub fn encode_into(&self, out: &mut BytesMut) {
        let payload_len = self.frame_bytes() - FRAME_HEADER_BYTES;
        assert!(payload_len <= FRAME_PAYLOAD_BYTES_MAX, "event exceeds the frame limit; validation missed it");
        out.reserve(self.frame_bytes());
        let start = out.len();
        out.put_u32_le(payload_len as u32);
        out.put_u32_le(0); // CRC, filled below
        out.put_u8(KIND_EVENT);
        out.put_u8(if self.end_of_append { FLAG_END_OF_APPEND } else { 0 });
        out.put_u64_le(self.event.position);
        out.put_u64_le(self.event.version);
        out.put_u64_le(self.event.timestamp.micros());
        out.put_slice(self.event.id.as_bytes());
        out.put_u16_le(self.event.stream.len() as u16);
        out.put_u16_le(self.event.event_type.len() as u16);
        out.put_u32_le(self.event.data.len() as u32);
        out.put_u32_le(self.event.metadata.len() as u32);
        out.put_slice(self.event.stream.as_bytes());
        out.put_slice(self.event.event_type.as_bytes());
        out.put_slice(self.event.data);
        out.put_slice(self.event.metadata);
        let crc = crc32c::crc32c(&out[start + FRAME_HEADER_BYTES..]);
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }
}

/// The content of a seal frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seal {
    pub last_position: u64,
    pub event_count: u64,
    pub body_crc: u32,
}

impl Seal {
    /// Appends the seal frame to `out`.
    pub fn encode_into(&self, out: &mut BytesMut) {
        let mut payload = [0u8; SEAL_PAYLOAD_BYTES];
        payload[0] = KIND_SEAL;
        payload[2..10].copy_from_slice(&self.last_position.to_le_bytes());
        payload[10..18].copy_from_slice(&self.event_count.to_le_bytes());
        payload[18..22].copy_from_slice(&self.body_crc.to_le_bytes());
        out.put_u32_le(SEAL_PAYLOAD_BYTES as u32);
        out.put_u32_le(crc32c::crc32c(&payload));
        out.put_slice(&payload);
    }
}

/// One decoded frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Event { event: RecordedEvent, end_of_append: bool },
    Seal(Seal),
}

/// Why bytes at some offset are not a whole, valid frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the frame declares: the end of what was written (maybe torn).
    Incomplete,
    /// The bytes are all there but wrong.
    Damaged(String),
}

/// Decodes the frame at the start of `buf` (a shared buffer, so data and metadata are not copied).
/// Returns the frame and the bytes it occupies.
pub fn decode_frame(buf: &Bytes) -> Result<(Frame, usize), FrameError> {
    if buf.len() < FRAME_HEADER_BYTES {
        return Err(FrameError::Incomplete);
    }
    let mut header = &buf[..FRAME_HEADER_BYTES];
    let payload_len = header.get_u32_le() as usize;
    let crc = header.get_u32_le();
    if !(2..=FRAME_PAYLOAD_BYTES_MAX).contains(&payload_len) {
        return Err(FrameError::Damaged(format!("frame declares an impossible length of {payload_len} bytes")));
    }
    let total = FRAME_HEADER_BYTES + payload_len;
    if buf.len() < total {
        return Err(FrameError::Incomplete);
    }
    let payload = buf.slice(FRAME_HEADER_BYTES..total);
    if crc32c::crc32c(&payload) != crc {
        return Err(FrameError::Damaged("frame checksum mismatch".into()));
    }
    let frame = match payload[0] {
        KIND_EVENT => decode_event(&payload)?,
        KIND_SEAL if payload_len == SEAL_PAYLOAD_BYTES => {
            let mut p = &payload[2..];
            Frame::Seal(Seal { last_position: p.get_u64_le(), event_count: p.get_u64_le(), body_crc: p.get_u32_le() })
        }
        kind => return Err(FrameError::Damaged(format!("unknown frame kind {kind}"))),
    };
    Ok((frame, total))
}

fn decode_event(payload: &Bytes) -> Result<Frame, FrameError> {
    let damaged = |what: &str| FrameError::Damaged(format!("event frame {what}"));
    if payload.len() < EVENT_FIXED_BYTES {
        return Err(damaged("is shorter than its fixed part"));
    }
    let mut p = &payload[1..EVENT_FIXED_BYTES];
    let flags = p.get_u8();
    let position = p.get_u64_le();
    let version = p.get_u64_le();
    let timestamp = Timestamp(p.get_u64_le());
    let id = Uuid::from_slice(&p[..16]).expect("16 bytes");
    p.advance(16);
    let stream_len = p.get_u16_le() as usize;
    let type_len = p.get_u16_le() as usize;
    let data_len = p.get_u32_le() as usize;
    let metadata_len = p.get_u32_le() as usize;
    if EVENT_FIXED_BYTES + stream_len + type_len + data_len + metadata_len != payload.len() {
        return Err(damaged("field lengths do not add up to its length"));
    }
    let mut at = EVENT_FIXED_BYTES;
    let mut take = |len: usize| {
        let part = payload.slice(at..at + len);
        at += len;
        part
    };
    let stream = String::from_utf8(take(stream_len).to_vec()).map_err(|_| damaged("stream is not UTF-8"))?;
    let event_type = String::from_utf8(take(type_len).to_vec()).map_err(|_| damaged("type is not UTF-8"))?;
    let data = Json::from_trusted(take(data_len));
    let metadata = Json::from_trusted(take(metadata_len));
    let event = RecordedEvent { position, stream, version, id, event_type, timestamp, data, metadata };
    Ok(Frame::Event { event, end_of_append: flags & FLAG_END_OF_APPEND != 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(end: bool) -> EventFrame<'static> {
        let event = EventView {
            position: 7,
            version: 3,
            timestamp: Timestamp(42),
            id: Uuid::from_u128(99),
            stream: "order-1",
            event_type: "Placed",
            data: br#"{"a":1}"#,
            metadata: b"{}",
        };
        EventFrame { event, end_of_append: end }
    }

    #[test]
    fn event_frames_round_trip() {
        let mut buf = BytesMut::new();
        sample(true).encode_into(&mut buf);
        assert_eq!(buf.len(), sample(true).frame_bytes());
        let (frame, used) = decode_frame(&buf.freeze()).unwrap();
        assert_eq!(used, sample(true).frame_bytes());
        let Frame::Event { event, end_of_append } = frame else { panic!("not an event") };
        assert!(end_of_append);
        assert_eq!((event.position, event.version, event.stream.as_str()), (7, 3, "order-1"));
        assert_eq!(event.data.as_bytes(), br#"{"a":1}"#);
    }

    #[test]
    fn any_flipped_bit_is_detected() {
        let mut buf = BytesMut::new();
        sample(false).encode_into(&mut buf);
        for bit in 0..buf.len() * 8 {
            let mut copy = buf.clone();
            copy[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_frame(&copy.freeze()).is_err(), "bit {bit} flipped unnoticed");
        }
    }

    #[test]
    fn short_buffers_are_incomplete() {
        let mut buf = BytesMut::new();
        sample(false).encode_into(&mut buf);
        let bytes = buf.freeze();
        for len in 0..bytes.len() {
            assert_eq!(decode_frame(&bytes.slice(..len)).unwrap_err(), FrameError::Incomplete, "length {len}");
        }
    }

    #[test]
    fn headers_and_seals_round_trip() {
        let header = SegmentHeader { first_position: 1 << 40, created: Timestamp(5) };
        assert_eq!(SegmentHeader::decode(&header.encode()).unwrap(), header);
        let mut bad = header.encode();
        bad[13] ^= 1;
        assert!(SegmentHeader::decode(&bad).unwrap_err().contains("checksum"));
        let seal = Seal { last_position: 9, event_count: 10, body_crc: 77 };
        let mut buf = BytesMut::new();
        seal.encode_into(&mut buf);
        assert_eq!(decode_frame(&buf.freeze()).unwrap().0, Frame::Seal(seal));
    }
}
