//! Deadlines on a connection's reading *and* writing, so that no caller can hold one of the
//! `--max-connections` slots for longer than `--read-timeout` without making progress.
//!
//! hyper's own header timeout covers reading only: a client that pipelines requests and never
//! reads the answers fills the socket's buffers, hyper then waits on a write that never
//! completes, and the slot is held for as long as the client likes. Here every stalled write
//! (and flush) fails after the deadline, which closes the connection.
//!
//! Between requests (from the connection's start, or from the last answer) the next request's
//! head must arrive within the deadline too, counted from the moment the connection became
//! idle, so a head dripped a byte at a time (slowloris) is cut off like a silent one. A head
//! that had started to arrive is answered with the documented `408` before the connection is
//! closed; a silent idle connection is simply closed.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The answer to a head that did not arrive in time.
const REQUEST_TIMEOUT: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 36\r\n\r\nthe request took too long to arrive\n";

/// Whether a request is being handled on a connection, and since when it has been idle; set by
/// the service (which sees requests) and read by [`Deadlined`] (which sees bytes).
#[derive(Debug)]
pub(crate) struct Activity {
    base: Instant,
    busy: AtomicBool,
    /// Milliseconds after `base`.
    idle_since: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            base: Instant::now(),
            busy: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
        })
    }

    /// A request's head has arrived: its body has deadlines of its own.
    pub(crate) fn start(&self) {
        self.busy.store(true, Ordering::Relaxed);
    }

    /// The request is answered: the next head must come within the deadline.
    pub(crate) fn end(&self) {
        let elapsed = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.idle_since.store(elapsed, Ordering::Relaxed);
        self.busy.store(false, Ordering::Relaxed);
    }

    /// When the next head is due, unless a request is being handled; with the idle moment it is
    /// counted from.
    fn head_deadline(&self, timeout: Duration) -> Option<(Instant, u64)> {
        if self.busy.load(Ordering::Relaxed) {
            return None;
        }
        let since = self.idle_since.load(Ordering::Relaxed);
        Some((self.base + Duration::from_millis(since) + timeout, since))
    }
}

/// A connection whose stalled reads between requests and stalled writes fail after a deadline.
pub(crate) struct Deadlined<S> {
    inner: S,
    activity: Arc<Activity>,
    timeout: Duration,
    read_timer: Pin<Box<Sleep>>,
    read_deadline: Option<Instant>,
    /// Bytes of a head read since the connection last became idle (at `counted_since`).
    head_bytes: u64,
    counted_since: u64,
    write_timer: Pin<Box<Sleep>>,
    write_armed: bool,
}

impl<S> Deadlined<S> {
    pub(crate) fn new(inner: S, activity: Arc<Activity>, timeout: Duration) -> Deadlined<S> {
        Deadlined {
            inner,
            activity,
            timeout,
            read_timer: Box::pin(tokio::time::sleep(timeout)),
            read_deadline: None,
            head_bytes: 0,
            counted_since: 0,
            write_timer: Box::pin(tokio::time::sleep(timeout)),
            write_armed: false,
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
}

impl<S: AsyncWrite + Unpin> Deadlined<S> {
    /// A write that stalls past the deadline fails; one that makes progress starts it over.
    fn guard_write<T>(&mut self, cx: &mut Context<'_>, result: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match result {
            Poll::Pending => {
                if !self.write_armed {
                    let deadline = Instant::now() + self.timeout;
                    self.write_timer.as_mut().reset(deadline);
                    self.write_armed = true;
                }
                if self.write_timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(timed_out("the caller stopped reading its answers")));
                }
                Poll::Pending
            }
            ready @ Poll::Ready(_) => {
                self.write_armed = false;
                ready
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Deadlined<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if let Some((_, since)) = this.activity.head_deadline(this.timeout) {
                    if since != this.counted_since {
                        this.counted_since = since;
                        this.head_bytes = 0;
                    }
                    this.head_bytes += (buf.filled().len() - before) as u64;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                let Some((deadline, since)) = this.activity.head_deadline(this.timeout) else {
                    return Poll::Pending;
                };
                if this.read_deadline != Some(deadline) {
                    this.read_timer.as_mut().reset(deadline);
                    this.read_deadline = Some(deadline);
                }
                if this.read_timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                if since == this.counted_since && this.head_bytes > 0 && !this.write_armed {
                    // Best effort: one write into the socket's (empty) buffer, then close.
                    let _ = Pin::new(&mut this.inner).poll_write(cx, REQUEST_TIMEOUT);
                    let _ = Pin::new(&mut this.inner).poll_flush(cx);
                }
                Poll::Ready(Err(timed_out("the request's head did not arrive in time")))
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deadlined<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_write(cx, data);
        this.guard_write(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, data);
        this.guard_write(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        this.guard_write(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.guard_write(cx, result)
    }
}
