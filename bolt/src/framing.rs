//! Chunked framing: how Bolt messages travel over a byte stream.
//!
//! A message is sent as chunks of at most 65,535 bytes, each prefixed with its 2-byte length,
//! and ended by an empty chunk (`00 00`). An empty chunk between messages is a NOOP (keep-alive).
//!
//! [`MessageReader`] keeps the wire bytes of each message ([`Frame::raw`]) next to its
//! dechunked payload, so a proxy can forward a message exactly as received and still parse it.
//! For the common single-chunk message both are views of the same buffer: no copy.
//! [`MessageWriter`] queues messages in one buffer and writes the whole batch at once; its
//! [`MessageWriter::flush`] can be cancelled (e.g. in `tokio::select!`) and resumed without
//! losing or duplicating bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::error::{Error, Result};
use super::message::{Request, Response, peek_signature};

/// Largest chunk body.
pub const MAX_CHUNK_SIZE: usize = 65_535;

/// Default bound on one message's dechunked size.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// The bytes of a NOOP (an empty chunk).
pub const NOOP: [u8; 2] = [0, 0];

const READ_SIZE: usize = 64 * 1024;

/// One message: its wire bytes (chunk headers and end marker included) and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    raw: Bytes,
    payload: Bytes,
}

impl Frame {
    /// A frame for `payload`, chunked.
    pub fn from_payload(payload: &[u8]) -> Frame {
        let mut raw = BytesMut::with_capacity(payload.len() + 4);
        write_chunked(payload, &mut raw);
        let raw = raw.freeze();
        let payload = if payload.len() <= MAX_CHUNK_SIZE {
            raw.slice(2..2 + payload.len())
        } else {
            Bytes::copy_from_slice(payload)
        };
        Frame { raw, payload }
    }

    /// The message's bytes as they were on the wire.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The dechunked message (a PackStream structure).
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The message signature, read without decoding.
    pub fn signature(&self) -> Option<u8> {
        peek_signature(&self.payload)
    }
}

/// Appends `payload` as chunks plus the end marker.
pub fn write_chunked(payload: &[u8], out: &mut impl BufMut) {
    for chunk in payload.chunks(MAX_CHUNK_SIZE) {
        out.put_u16(chunk.len() as u16);
        out.put_slice(chunk);
    }
    out.put_slice(&NOOP);
}

/// Reads framed messages from an async stream.
#[derive(Debug)]
pub struct MessageReader<R> {
    inner: R,
    buf: BytesMut,
    max_message_size: usize,
    /// Offset in `buf` of the next chunk header of the message being scanned.
    scan: usize,
    /// Payload bytes of the message being scanned.
    payload_len: usize,
    /// Chunks of the message being scanned.
    chunks: usize,
    noops: u64,
}

impl<R> MessageReader<R> {
    /// A reader with the default message size limit.
    pub fn new(inner: R) -> Self {
        Self::with_max_message_size(inner, DEFAULT_MAX_MESSAGE_SIZE)
    }

    /// A reader that fails on messages larger than `max` payload bytes.
    pub fn with_max_message_size(inner: R, max: usize) -> Self {
        MessageReader {
            inner,
            buf: BytesMut::with_capacity(READ_SIZE),
            max_message_size: max,
            scan: 0,
            payload_len: 0,
            chunks: 0,
            noops: 0,
        }
    }

    /// The next complete message already buffered, without any I/O. NOOPs are skipped (and
    /// counted, see [`MessageReader::take_noops`]).
    pub fn next_buffered(&mut self) -> Result<Option<Frame>> {
        loop {
            let pos = self.scan;
            if self.buf.len() < pos + 2 {
                return Ok(None);
            }
            let n = usize::from(u16::from_be_bytes([self.buf[pos], self.buf[pos + 1]]));
            if n == 0 {
                if pos == 0 {
                    self.buf.advance(2);
                    self.noops += 1;
                    continue;
                }
                return Ok(Some(self.take_frame(pos + 2)));
            }
            let total = self.payload_len + n;
            if total > self.max_message_size {
                return Err(Error::TooLarge {
                    what: "message",
                    size: total,
                    limit: self.max_message_size,
                });
            }
            if self.buf.len() < pos + 2 + n {
                return Ok(None);
            }
            self.payload_len = total;
            self.chunks += 1;
            self.scan = pos + 2 + n;
        }
    }

    fn take_frame(&mut self, end: usize) -> Frame {
        let raw = self.buf.split_to(end).freeze();
        let payload = if self.chunks == 1 {
            raw.slice(2..end - 2)
        } else {
            let mut p = BytesMut::with_capacity(self.payload_len);
            let mut at = 0;
            while at + 2 < raw.len() {
                let n = usize::from(u16::from_be_bytes([raw[at], raw[at + 1]]));
                p.extend_from_slice(&raw[at + 2..at + 2 + n]);
                at += 2 + n;
            }
            p.freeze()
        };
        self.scan = 0;
        self.payload_len = 0;
        self.chunks = 0;
        Frame { raw, payload }
    }

    /// The longest run of complete single-chunk messages at the front of the buffer whose
    /// payloads `accept` takes, as their wire bytes in one piece and their number; `None`
    /// when the first buffered message is not one (read it with
    /// [`MessageReader::next_buffered`]). A proxy forwards a stream of small RECORDs this way
    /// with one copy, instead of one frame and one copy per message. Stops at a NOOP, a
    /// multi-chunk or incomplete message, and one over the size limit, all left for
    /// `next_buffered`.
    pub fn take_batch(&mut self, mut accept: impl FnMut(&[u8]) -> bool) -> Option<(Bytes, usize)> {
        if self.scan != 0 {
            // A multi-chunk message is being scanned.
            return None;
        }
        let buf = &self.buf[..];
        let (mut end, mut count) = (0, 0);
        while let [h0, h1, rest @ ..] = &buf[end..] {
            let n = usize::from(u16::from_be_bytes([*h0, *h1]));
            let single_chunk = n > 0
                && n <= self.max_message_size
                && rest.len() >= n + 2
                && rest[n..n + 2] == NOOP;
            if !single_chunk || !accept(&rest[..n]) {
                break;
            }
            end += n + 4;
            count += 1;
        }
        (count > 0).then(|| (self.buf.split_to(end).freeze(), count))
    }

    /// NOOPs seen since the last call.
    pub fn take_noops(&mut self) -> u64 {
        std::mem::take(&mut self.noops)
    }

    /// Whether part of a message is buffered.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The underlying stream, mutably (reading from it directly loses framing).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The underlying stream; buffered bytes are lost.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: AsyncRead + Unpin> MessageReader<R> {
    /// Reads once from the stream into the buffer. `Ok(false)` at end of stream.
    /// Cancellation-safe.
    pub async fn fill(&mut self) -> Result<bool> {
        if self.buf.capacity() - self.buf.len() < READ_SIZE / 4 {
            self.buf.reserve(READ_SIZE);
        }
        Ok(self.inner.read_buf(&mut self.buf).await? > 0)
    }

    /// The next message; `Ok(None)` when the stream ends between messages, an error when it
    /// ends inside one. Cancellation-safe.
    pub async fn read_message(&mut self) -> Result<Option<Frame>> {
        loop {
            if let Some(f) = self.next_buffered()? {
                return Ok(Some(f));
            }
            if !self.fill().await? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(Error::ConnectionClosed)
                };
            }
        }
    }
}

/// Queues framed messages and writes them in batches.
#[derive(Debug)]
pub struct MessageWriter<W> {
    inner: W,
    buf: BytesMut,
    written: usize,
    /// Everything queued went to `inner`, which has not yet finished flushing it (a TLS
    /// stream holds encrypted records until its socket takes them).
    unflushed: bool,
}

impl<W> MessageWriter<W> {
    /// A writer over `inner`.
    pub fn new(inner: W) -> Self {
        MessageWriter {
            inner,
            buf: BytesMut::with_capacity(READ_SIZE),
            written: 0,
            unflushed: false,
        }
    }

    /// Queues a frame's wire bytes unchanged.
    pub fn queue_frame(&mut self, frame: &Frame) {
        self.buf.extend_from_slice(frame.raw());
    }

    /// Queues bytes as they are (already framed).
    pub fn queue_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Queues a NOOP.
    pub fn queue_noop(&mut self) {
        self.buf.extend_from_slice(&NOOP);
    }

    /// Queues a message payload, chunked.
    pub fn queue_payload(&mut self, payload: &[u8]) {
        write_chunked(payload, &mut self.buf);
    }

    /// Queues a message that `encode` writes, chunking it in place: the payload is encoded
    /// straight into the output buffer behind a placeholder header, re-chunked only when it
    /// is larger than one chunk.
    pub fn queue_with(&mut self, encode: impl FnOnce(&mut BytesMut) -> Result<()>) -> Result<()> {
        let start = self.buf.len();
        self.buf.put_u16(0);
        if let Err(e) = encode(&mut self.buf) {
            self.buf.truncate(start);
            return Err(e);
        }
        let len = self.buf.len() - start - 2;
        if len <= MAX_CHUNK_SIZE {
            self.buf[start..start + 2].copy_from_slice(&(len as u16).to_be_bytes());
            self.buf.put_slice(&NOOP);
        } else {
            let payload = self.buf.split_off(start + 2);
            self.buf.truncate(start);
            write_chunked(&payload, &mut self.buf);
        }
        Ok(())
    }

    /// Queues a request.
    pub fn queue_request(&mut self, request: &Request) -> Result<()> {
        self.queue_with(|b| request.encode(b))
    }

    /// Queues a response.
    pub fn queue_response(&mut self, response: &Response) -> Result<()> {
        self.queue_with(|b| response.encode(b))
    }

    /// Bytes queued and not yet written.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.written
    }

    /// Whether [`MessageWriter::flush`] has work left: bytes queued, or a flush of the
    /// underlying stream that was interrupted (a flush future dropped while the socket was
    /// full). Callers that drop flush futures must keep flushing until this is `false`.
    pub fn needs_flush(&self) -> bool {
        self.pending() > 0 || self.unflushed
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The underlying stream, mutably.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The underlying stream; queued bytes are lost.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: AsyncWrite + Unpin> MessageWriter<W> {
    /// Writes everything queued, then flushes the stream. Cancellation-safe: bytes written
    /// before a cancellation are not written again, the rest goes out on the next call.
    pub async fn flush(&mut self) -> Result<()> {
        while self.written < self.buf.len() {
            let n = self.inner.write(&self.buf[self.written..]).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
            }
            self.written += n;
        }
        self.buf.clear();
        self.written = 0;
        self.unflushed = true;
        self.inner.flush().await?;
        self.unflushed = false;
        Ok(())
    }

    /// Queues a request and flushes.
    pub async fn send_request(&mut self, request: &Request) -> Result<()> {
        self.queue_request(request)?;
        self.flush().await
    }

    /// Queues a response and flushes.
    pub async fn send_response(&mut self, response: &Response) -> Result<()> {
        self.queue_response(response)?;
        self.flush().await
    }

    /// Flushes, then shuts the stream down.
    pub async fn shutdown(&mut self) -> Result<()> {
        self.flush().await?;
        self.inner.shutdown().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Map;
    use futures::FutureExt;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Takes every write at once and keeps it until flushed, the first flush finding its
    /// socket full: what a TLS stream does.
    #[derive(Default)]
    struct Buffering {
        held: Vec<u8>,
        sent: Vec<u8>,
        flushes_refused: u32,
    }

    impl AsyncWrite for Buffering {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.held.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            if self.flushes_refused == 0 {
                self.flushes_refused += 1;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let held = std::mem::take(&mut self.held);
            self.sent.extend(held);
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn an_interrupted_flush_is_still_owed() {
        let mut w = MessageWriter::new(Buffering::default());
        w.queue_request(&Request::Reset).unwrap();
        assert!(w.needs_flush());
        // Every byte went to the stream, which has not sent them: dropping that flush must not
        // make the writer look done, or the bytes wait for the next message.
        assert!(w.flush().now_or_never().is_none());
        assert_eq!(w.pending(), 0);
        assert!(w.needs_flush(), "the stream's flush is still owed");
        w.flush().await.unwrap();
        assert!(!w.needs_flush());
        let mut plain = MessageWriter::new(Vec::new());
        plain.queue_request(&Request::Reset).unwrap();
        plain.flush().await.unwrap();
        assert_eq!(&w.get_ref().sent, plain.get_ref(), "sent whole, once");
    }

    #[tokio::test]
    async fn single_and_multi_chunk_messages_and_noops() {
        let small = Request::Reset.to_vec().unwrap();
        let big = Request::Run {
            query: "x".repeat(150_000),
            parameters: Map::new(),
            extra: Map::new(),
        }
        .to_vec()
        .unwrap();
        let mut wire = Vec::new();
        wire.extend_from_slice(&NOOP);
        write_chunked(&small, &mut wire);
        wire.extend_from_slice(&NOOP);
        wire.extend_from_slice(&NOOP);
        write_chunked(&big, &mut wire);
        let mut r = MessageReader::new(&wire[..]);
        let f1 = r.read_message().await.unwrap().unwrap();
        assert_eq!(&f1.payload()[..], &small[..]);
        assert_eq!(f1.raw().len(), small.len() + 4);
        let f2 = r.read_message().await.unwrap().unwrap();
        assert_eq!(&f2.payload()[..], &big[..]);
        assert_eq!(f2.raw().len(), big.len() + 2 * 3 + 2);
        assert!(r.read_message().await.unwrap().is_none());
        assert_eq!(r.take_noops(), 3);
    }

    #[tokio::test]
    async fn truncated_and_oversized_messages_fail() {
        let mut r = MessageReader::new(&[0x00, 0x05, 0xB0][..]);
        assert!(matches!(
            r.read_message().await,
            Err(Error::ConnectionClosed)
        ));
        let mut wire = vec![];
        write_chunked(&[0u8; 100], &mut wire);
        let mut r = MessageReader::with_max_message_size(&wire[..], 99);
        assert!(matches!(
            r.read_message().await,
            Err(Error::TooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn writer_chunks_large_messages_in_place() {
        let big = Request::Run {
            query: "y".repeat(70_000),
            parameters: Map::new(),
            extra: Map::new(),
        };
        let mut w = MessageWriter::new(Vec::new());
        w.queue_request(&Request::Goodbye).unwrap();
        w.queue_request(&big).unwrap();
        w.flush().await.unwrap();
        let wire = w.into_inner();
        let mut r = MessageReader::new(&wire[..]);
        let a = r.read_message().await.unwrap().unwrap();
        assert_eq!(Request::decode(a.payload()).unwrap(), Request::Goodbye);
        let b = r.read_message().await.unwrap().unwrap();
        assert_eq!(Request::decode(b.payload()).unwrap(), big);
        assert_eq!(Frame::from_payload(b.payload()).raw(), b.raw());
    }
}
