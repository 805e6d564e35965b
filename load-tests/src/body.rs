//! Request bodies: none, fixed bytes (`--body`, `--body-file`), or newline-delimited JSON
//! generated on the fly (`--body-ndjson-mb`).
//!
//! A fixed body is held once and shared by every request (`Bytes` clones are a reference count).
//! A generated body is produced chunk by chunk while it is sent, so an upload of any size takes
//! one chunk of memory per request in flight, never the whole upload.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use http_body::{Frame, SizeHint};

/// One megabyte of `--body-ndjson-mb`: decimal, like the MB/s of the report.
pub(crate) const MB: u64 = 1_000_000;

/// Every generated record is exactly this long, its newline included.
pub(crate) const RECORD_LEN: u64 = 100;

/// Records generated per chunk: about 64 KiB per frame.
const RECORDS_PER_CHUNK: u64 = 655;

/// What every request of a run carries as its body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum BodySpec {
    /// No body.
    #[default]
    Empty,
    /// The same bytes in every request.
    Fixed(Bytes),
    /// `len` bytes of NDJSON records, generated while sending (`len` is a multiple of
    /// [`RECORD_LEN`]).
    Ndjson {
        /// The body length in bytes.
        len: u64,
    },
}

impl From<Bytes> for BodySpec {
    fn from(bytes: Bytes) -> Self {
        if bytes.is_empty() {
            Self::Empty
        } else {
            Self::Fixed(bytes)
        }
    }
}

impl BodySpec {
    /// A generated body of `mb` megabytes.
    pub(crate) fn ndjson_mb(mb: u64) -> Self {
        Self::Ndjson {
            len: mb.saturating_mul(MB),
        }
    }

    /// Whether there is no body at all.
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }

    /// A fresh body for one request; every byte it yields is added to `sent`.
    pub(crate) fn body(&self, sent: &Arc<AtomicU64>) -> RequestBody {
        let kind = match self {
            Self::Empty => Kind::Fixed(None),
            Self::Fixed(bytes) => Kind::Fixed(Some(bytes.clone())),
            Self::Ndjson { len } => Kind::Ndjson(Ndjson {
                next_id: 0,
                remaining: *len,
            }),
        };
        RequestBody {
            kind,
            sent: Arc::clone(sent),
        }
    }
}

/// The body of one request, for both engines (hyper takes it as is, reqwest through
/// `reqwest::Body::wrap`). Its size is always known, so it goes out with `Content-Length`.
#[derive(Debug)]
pub(crate) struct RequestBody {
    kind: Kind,
    /// The run's count of body bytes handed to the connection.
    sent: Arc<AtomicU64>,
}

#[derive(Debug)]
enum Kind {
    /// Fixed bytes, yielded in one frame (`None` once sent, or for no body).
    Fixed(Option<Bytes>),
    Ndjson(Ndjson),
}

/// The generator state of an NDJSON body.
#[derive(Debug)]
struct Ndjson {
    next_id: u64,
    remaining: u64,
}

impl Ndjson {
    /// The next chunk of whole records, or `None` at the end.
    fn chunk(&mut self) -> Option<Bytes> {
        let records = (self.remaining / RECORD_LEN).min(RECORDS_PER_CHUNK);
        if records == 0 {
            return None;
        }
        let mut buf = BytesMut::with_capacity((records * RECORD_LEN) as usize);
        for _ in 0..records {
            write_record(&mut buf, self.next_id);
            self.next_id += 1;
        }
        self.remaining -= records * RECORD_LEN;
        Some(buf.freeze())
    }
}

/// Appends `{"id":ID,"pad":"xxx…"}\n`, padded to exactly [`RECORD_LEN`] bytes.
fn write_record(buf: &mut BytesMut, id: u64) {
    const HEAD: &[u8] = b"{\"id\":";
    const MIDDLE: &[u8] = b",\"pad\":\"";
    const TAIL: &[u8] = b"\"}\n";
    const PAD: &[u8; RECORD_LEN as usize] = &[b'x'; RECORD_LEN as usize];
    let digits = id.to_string();
    // At most 20 digits: 20 + 17 bytes of syntax leave at least 63 for the padding.
    let pad = RECORD_LEN as usize - HEAD.len() - digits.len() - MIDDLE.len() - TAIL.len();
    buf.put_slice(HEAD);
    buf.put_slice(digits.as_bytes());
    buf.put_slice(MIDDLE);
    buf.put_slice(&PAD[..pad]);
    buf.put_slice(TAIL);
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let chunk = match &mut this.kind {
            Kind::Fixed(bytes) => bytes.take().filter(|b| !b.is_empty()),
            Kind::Ndjson(generator) => generator.chunk(),
        };
        Poll::Ready(chunk.map(|chunk| {
            this.sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            Ok(Frame::data(chunk))
        }))
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Fixed(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            Kind::Ndjson(generator) => generator.remaining < RECORD_LEN,
        }
    }

    fn size_hint(&self) -> SizeHint {
        let len = match &self.kind {
            Kind::Fixed(bytes) => bytes.as_ref().map_or(0, |b| b.len() as u64),
            Kind::Ndjson(generator) => generator.remaining - generator.remaining % RECORD_LEN,
        };
        SizeHint::with_exact(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::BodyExt;

    fn collect(spec: &BodySpec) -> (Bytes, u64, u64) {
        let sent = Arc::new(AtomicU64::new(0));
        let body = spec.body(&sent);
        let hint = body.size_hint().exact().expect("an exact size");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = runtime
            .block_on(body.collect())
            .unwrap_or_else(|never| match never {})
            .to_bytes();
        (bytes, hint, sent.load(Ordering::Relaxed))
    }

    #[test]
    fn records_are_valid_json_of_fixed_length() {
        for id in [0, 7, 123_456, u64::MAX] {
            let mut buf = BytesMut::new();
            write_record(&mut buf, id);
            assert_eq!(buf.len() as u64, RECORD_LEN);
            assert!(buf.ends_with(b"\n"));
            let value: serde_json::Value = serde_json::from_slice(&buf[..buf.len() - 1]).unwrap();
            assert_eq!(value["id"], id);
        }
    }

    #[test]
    fn a_generated_body_is_exactly_its_size_in_whole_records() {
        let (bytes, hint, sent) = collect(&BodySpec::ndjson_mb(1));
        assert_eq!(bytes.len() as u64, MB);
        assert_eq!(hint, MB);
        assert_eq!(sent, MB);
        let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        assert_eq!(lines.len() as u64, MB / RECORD_LEN + 1);
        assert_eq!(lines.last(), Some(&&b""[..]));
        for (i, line) in lines[..lines.len() - 1].iter().enumerate() {
            let value: serde_json::Value = serde_json::from_slice(line).unwrap();
            assert_eq!(value["id"], i as u64);
        }
    }

    #[test]
    fn fixed_and_empty_bodies() {
        let (bytes, hint, sent) = collect(&Bytes::from_static(b"hello").into());
        assert_eq!((&bytes[..], hint, sent), (&b"hello"[..], 5, 5));
        let empty = BodySpec::from(Bytes::new());
        assert!(empty.is_empty());
        let (bytes, hint, sent) = collect(&empty);
        assert_eq!((bytes.len(), hint, sent), (0, 0, 0));
        let body = empty.body(&Arc::new(AtomicU64::new(0)));
        assert!(body.is_end_stream());
    }
}
