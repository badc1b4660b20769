//! What actix-web does not bound by itself, per TCP connection: how long a client may leave
//! a response unread, how a refused connection is closed, and how many connections the
//! process's file descriptors allow.
//!
//! actix-web 4 times out the request head (`client_request_timeout`), idle keep-alive
//! connections (`keep_alive`) and the shutdown of a connection (`client_disconnect_timeout`),
//! and caps connections per worker (`max_connections`, default 25,600). It has no write
//! timeout: a client that pipelines requests and never reads keeps its connection, and the
//! response waiting for it, forever. [`GuardedStream`] wraps every accepted socket and fails a
//! write that makes no progress for `write_timeout`, so the dispatcher drops the connection
//! and what it holds. It also closes a connection the server gives up on (a 431, a 413, a
//! timed-out body) with a lingering close: a plain `close()` with unread request bytes makes
//! the kernel send a reset, and the client loses the response it was about to read.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::rt::net::TcpStream;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::body::ResponseBudget;

/// File descriptors kept for everything that is not a client connection: the store's files,
/// the listener, the runtime's own descriptors, lingering closes.
pub const FD_RESERVE: u64 = 256;
/// Connections closed with a lingering close at once, at most (they count against
/// [`FD_RESERVE`]); past this many, a connection is closed at once.
const MAX_LINGERING: usize = 128;
/// The write timeout while the response buffer is under pressure.
const PRESSURE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a stalled connection looks at the pressure again.
const RECHECK: Duration = Duration::from_secs(1);
/// How long a lingering close reads what the client still sends before closing.
const LINGER: Duration = Duration::from_secs(2);
/// How much a lingering close reads before giving up.
const LINGER_BYTES: usize = 1 << 20;

/// Counters shared by every connection of one server, for `/metrics`.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    open: AtomicUsize,
    lingering: AtomicUsize,
    write_timeouts: AtomicU64,
}

impl ConnectionStats {
    /// Connections open now (lingering ones included).
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections closed because their client left a response unread for too long.
    pub fn write_timeouts(&self) -> u64 {
        self.write_timeouts.load(Ordering::Relaxed)
    }
}

/// Raises the soft limit on open files to the hard limit, and returns the soft limit in force.
///
/// Distributions start services with a soft limit of 1,024 and a far higher hard limit; the
/// soft one would let 1,000 slow clients starve the server of descriptors.
pub fn raise_fd_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "Could not raise the limit on open files.");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// The most client connections the server takes at once: `configured`, or all that the
/// descriptor limit leaves after [`FD_RESERVE`], whichever is lower (at least 16).
pub fn connection_cap(configured: Option<usize>, fd_limit: u64) -> usize {
    let available = usize::try_from(fd_limit.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
    configured.unwrap_or(available).min(available).max(16)
}

/// What every connection of one server shares: its counters, the response buffer whose
/// fill shortens the write timeout, and the write timeout itself.
#[derive(Debug, Clone)]
pub struct Guard {
    /// Counters for `/metrics`.
    pub stats: Arc<ConnectionStats>,
    /// The response buffer (see [`ResponseBudget::under_pressure`]).
    pub budget: ResponseBudget,
    /// How long a client may read nothing of a response.
    pub write_timeout: Duration,
}

/// A client connection with a write timeout and a lingering close.
pub struct GuardedStream {
    io: Option<TcpStream>,
    guard: Guard,
    /// Since when writes have made no progress; reset by any progress.
    stalled_since: Option<Instant>,
    timer: Pin<Box<Sleep>>,
    timed_out: bool,
    read_closed: bool,
}

impl GuardedStream {
    /// Wraps an accepted socket.
    pub fn new(io: TcpStream, guard: Guard) -> Self {
        guard.stats.open.fetch_add(1, Ordering::Relaxed);
        GuardedStream {
            io: Some(io),
            guard,
            stalled_since: None,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            timed_out: false,
            read_closed: false,
        }
    }

    fn io(&mut self) -> Pin<&mut TcpStream> {
        Pin::new(self.io.as_mut().expect("The stream is only taken on drop."))
    }

    /// After a write returned `Pending`: an error once the client has read nothing for the
    /// write timeout, else `Pending` with a timer armed to look again.
    ///
    /// While the response buffer is under pressure, the timeout is [`PRESSURE_TIMEOUT`]: the
    /// responses that non-reading clients hold are what fills it, and other clients would
    /// otherwise be refused until the full timeout frees them.
    fn poll_stall<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let since = *self.stalled_since.get_or_insert_with(Instant::now);
        loop {
            let limit = if self.guard.budget.under_pressure() {
                self.guard.write_timeout.min(PRESSURE_TIMEOUT)
            } else {
                self.guard.write_timeout
            };
            let stalled = since.elapsed();
            let Some(left) = limit.checked_sub(stalled).filter(|d| !d.is_zero()) else {
                return Poll::Ready(Err(self.time_out(stalled)));
            };
            let wait = left.min(RECHECK);
            self.timer.as_mut().reset(Instant::now() + wait);
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    fn time_out(&mut self, stalled: Duration) -> io::Error {
        if !self.timed_out {
            self.timed_out = true;
            self.guard
                .stats
                .write_timeouts
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                stalled_ms = u64::try_from(stalled.as_millis()).unwrap_or(u64::MAX),
                "Connection closed: its client read nothing of its response."
            );
        }
        io::Error::new(
            io::ErrorKind::TimedOut,
            "the client read nothing for the write timeout",
        )
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = self.io().poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() == before {
            self.read_closed = true;
        }
        poll
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.io().poll_write(cx, buf) {
            Poll::Pending => self.poll_stall(cx),
            ready @ Poll::Ready(_) => {
                self.stalled_since = None;
                ready
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.io().poll_flush(cx) {
            Poll::Pending => self.poll_stall(cx),
            ready @ Poll::Ready(_) => ready,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io().poll_shutdown(cx)
    }
}

impl Drop for GuardedStream {
    fn drop(&mut self) {
        let Some(io) = self.io.take() else { return };
        // A client that closed its side, or that reads nothing, has nothing to lose.
        if !self.read_closed && !self.timed_out {
            let lingering = &self.guard.stats.lingering;
            if lingering.fetch_add(1, Ordering::Relaxed) < MAX_LINGERING {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let stats = self.guard.stats.clone();
                    runtime.spawn(async move {
                        lingering_close(io).await;
                        stats.lingering.fetch_sub(1, Ordering::Relaxed);
                        stats.open.fetch_sub(1, Ordering::Relaxed);
                    });
                    return;
                }
            }
            lingering.fetch_sub(1, Ordering::Relaxed);
        }
        self.guard.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Sends FIN after the response, then reads and drops what the client still sends until it
/// closes, for at most [`LINGER`] and [`LINGER_BYTES`]: closing with unread bytes would reset
/// the connection and destroy the response in the client's receive buffer.
async fn lingering_close(mut io: TcpStream) {
    if io.shutdown().await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 8192];
    let mut read = 0usize;
    let _ = tokio::time::timeout(LINGER, async {
        while read < LINGER_BYTES {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_leaves_descriptors_for_the_store() {
        assert_eq!(connection_cap(None, 1024), 768);
        assert_eq!(connection_cap(Some(100), 1024), 100);
        assert_eq!(connection_cap(Some(5000), 1024), 768);
        assert_eq!(connection_cap(None, 100), 16);
    }
}
