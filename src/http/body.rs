//! Request and response bodies with bounds: the memory that responses waiting for their
//! clients may hold, and the time a client may take to send a body.
//!
//! A response is rendered whole (a page is one range scan), then handed to actix-web, which
//! copies it into the connection's write buffer as the socket accepts it. A client that never
//! reads keeps its response in memory until [`super::connection`]'s write timeout; 1,000 such
//! clients held 627 MB. So each response body holds a share of one [`ResponseBudget`] until
//! it has been handed to the socket, is given out in chunks (the dispatcher then copies at
//! most its write buffer's worth), and a response that does not fit the budget is refused with
//! 503 and `Retry-After`, like a list beyond `max_concurrent_lists`. A list request holds its
//! permit until its page is in the budget, so rendered pages never pile up outside it.

use std::convert::Infallible;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::http::Method;
use actix_web::web::{Bytes, BytesMut};
use actix_web::HttpMessage as _;
use futures_util::{Stream, StreamExt as _};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use super::error::ServerError;
use crate::protocol::RESPONSE_CAPACITY;

/// Bytes handed to the connection at a time.
const CHUNK: usize = 16 * 1024;

/// Response buffers kept for the next responses.
const POOL_BUFFERS: usize = 8;
/// The smallest buffer kept: a small response is cheap to allocate afresh.
const POOL_MIN_CAPACITY: usize = 64 * 1024;
/// The largest buffer kept (a page of 100 records of 4 KB is 450 KB).
const POOL_MAX_CAPACITY: usize = 1 << 20;

/// The memory all response bodies not yet handed to their sockets may hold together, and the
/// buffers of sent responses kept for reuse.
///
/// A list page is a few hundred KB: allocated afresh for every response, glibc's malloc maps
/// it from the kernel and unmaps it when it is freed, so that every page first faulted in
/// (and zeroed) its whole buffer, a fifth of its CPU. At most 8 buffers of 64 KiB to 1 MiB
/// are kept, so the pool holds at most 8 MiB.
#[derive(Debug, Clone)]
pub struct ResponseBudget {
    permits: Arc<Semaphore>,
    total: usize,
    pool: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// A response buffer that goes back to its pool when the last chunk sent from it is dropped.
struct Pooled {
    bytes: Vec<u8>,
    pool: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        give_back(&self.pool, std::mem::take(&mut self.bytes));
    }
}

/// Keeps `bytes` in `pool` for the next page, if it is of a size worth keeping and there is room.
fn give_back(pool: &Mutex<Vec<Vec<u8>>>, mut bytes: Vec<u8>) {
    if !(POOL_MIN_CAPACITY..=POOL_MAX_CAPACITY).contains(&bytes.capacity()) {
        return;
    }
    bytes.clear();
    let mut pool = pool.lock().unwrap_or_else(PoisonError::into_inner);
    if pool.len() < POOL_BUFFERS {
        pool.push(bytes);
    }
}

impl ResponseBudget {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> Self {
        let total = bytes.clamp(1, Semaphore::MAX_PERMITS);
        ResponseBudget {
            permits: Arc::new(Semaphore::new(total)),
            total,
            pool: Arc::default(),
        }
    }

    /// An empty buffer to write a large response (a list page) into: a kept one when there is
    /// one.
    pub fn buffer(&self) -> Vec<u8> {
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(RESPONSE_CAPACITY))
    }

    /// Bytes held now by responses waiting for their clients.
    pub fn buffered(&self) -> usize {
        self.total - self.permits.available_permits()
    }

    /// True when responses waiting for their clients hold over half the budget.
    pub fn under_pressure(&self) -> bool {
        self.buffered() > self.total / 2
    }

    /// True when responses waiting for their clients hold over nine tenths of the budget:
    /// a list rendered now would most likely be refused.
    pub fn nearly_full(&self) -> bool {
        self.buffered() > self.total / 10 * 9
    }

    /// The budget.
    pub fn total(&self) -> usize {
        self.total
    }

    /// `bytes` as a body holding its share of the budget, or `None` when it does not fit.
    /// The buffer goes back to the pool ([`ResponseBudget::buffer`]) once it has been sent.
    pub fn body(&self, mut bytes: Vec<u8>) -> Option<BudgetedBody> {
        // What the budget counts is what stays allocated. A small answer written into a
        // pooled buffer (an error, a short last page) is sent from a copy of its length, and
        // the buffer goes back to the pool at once; a buffer too large to be pooled is shrunk
        // to its length. A pooled buffer holding a page is kept whole for the next page.
        if bytes.capacity() > bytes.len().saturating_mul(2).max(RESPONSE_CAPACITY) {
            if bytes.len() < POOL_MIN_CAPACITY {
                let small = bytes.as_slice().to_vec();
                give_back(&self.pool, std::mem::replace(&mut bytes, small));
            } else if bytes.capacity() > POOL_MAX_CAPACITY {
                bytes.shrink_to_fit();
            }
        }
        // A body larger than the whole budget could never be sent; let it take all of it.
        let share = u32::try_from(bytes.capacity().min(self.total)).unwrap_or(u32::MAX);
        let permit = self.permits.clone().try_acquire_many_owned(share).ok()?;
        Some(BudgetedBody {
            len: bytes.len() as u64,
            bytes: Bytes::from_owner(Pooled {
                bytes,
                pool: self.pool.clone(),
            }),
            permit: Some(permit),
        })
    }
}

/// A response body given out in chunks, which returns its share of the budget once the last
/// chunk has been taken (or the connection dropped it).
#[derive(Debug)]
pub struct BudgetedBody {
    /// The whole length, for `Content-Length`.
    len: u64,
    /// What is left to give out.
    bytes: Bytes,
    permit: Option<OwnedSemaphorePermit>,
}

impl MessageBody for BudgetedBody {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.len)
    }

    /// A body of one chunk goes out whole (actix writes it with the head); its share of the
    /// budget is returned at once, since the connection holds at most one such chunk.
    fn try_into_bytes(self) -> Result<Bytes, Self> {
        if self.bytes.len() <= CHUNK {
            Ok(self.bytes)
        } else {
            Err(self)
        }
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Infallible>>> {
        if self.bytes.is_empty() {
            self.permit = None;
            return Poll::Ready(None);
        }
        let chunk = if self.bytes.len() > CHUNK {
            self.bytes.split_to(CHUNK)
        } else {
            // The last chunk: an empty remainder would still share (and keep) the whole
            // allocation, and the dispatcher may not poll this body again for a long time.
            self.permit = None;
            std::mem::take(&mut self.bytes)
        };
        Poll::Ready(Some(Ok(chunk)))
    }
}

/// A form body as read: whole, or only measured because it was over the limit.
#[derive(Debug)]
pub enum FormBody {
    /// The body, within the limit.
    Complete(BytesMut),
    /// The body was this many bytes, over the limit; it was read and dropped.
    Oversized(usize),
}

/// Reads a request body of at most `limit` bytes; a larger one is read and dropped up to
/// `hard_limit`, so that the client can be told why in an OAI-PMH response.
///
/// # Errors
/// [`ServerError::BodyTimeout`] when the whole body has not arrived within `timeout`,
/// [`ServerError::BodyTooLarge`] past `hard_limit` (or when `Content-Length` says so), and
/// [`ServerError::BadBody`] when the body is malformed.
pub async fn read_form(
    payload: &mut Payload,
    content_length: Option<usize>,
    (limit, hard_limit): (usize, usize),
    timeout: Duration,
) -> Result<FormBody, ServerError> {
    if content_length.is_some_and(|n| n > hard_limit) {
        return Err(ServerError::BodyTooLarge(hard_limit));
    }
    let deadline = Instant::now() + timeout;
    let mut body = BytesMut::new();
    let mut total = 0usize;
    loop {
        let chunk = match tokio::time::timeout_at(deadline, payload.next()).await {
            Err(_) => return Err(ServerError::BodyTimeout(timeout.as_secs())),
            Ok(None) => break,
            Ok(Some(Err(error))) => return Err(payload_error(error, timeout)),
            Ok(Some(Ok(chunk))) => chunk,
        };
        total += chunk.len();
        if total > hard_limit {
            return Err(ServerError::BodyTooLarge(hard_limit));
        }
        if total <= limit {
            body.extend_from_slice(&chunk);
        } else {
            body = BytesMut::new();
        }
    }
    Ok(if total > limit {
        FormBody::Oversized(total)
    } else {
        FormBody::Complete(body)
    })
}

fn payload_error(error: PayloadError, timeout: Duration) -> ServerError {
    match error {
        PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            ServerError::BodyTimeout(timeout.as_secs())
        }
        other => ServerError::BadBody(other.to_string()),
    }
}

/// Replaces a request's payload with one that fails when the client sends nothing for
/// `idle` (actix-web's request timeout covers the head only). Applied to every route; `/oai`
/// also bounds the whole body ([`read_form`]).
pub fn with_idle_timeout(req: &mut ServiceRequest, idle: Duration) {
    // Nothing reads the body of a GET or HEAD; spare them the allocations.
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return;
    }
    let inner = req.take_payload();
    let timed = IdleTimeout {
        inner,
        idle,
        timer: Box::pin(tokio::time::sleep(idle)),
        failed: false,
    };
    req.set_payload(Payload::from(
        Box::pin(timed) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
    ));
}

struct IdleTimeout {
    inner: Payload,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    failed: bool,
}

impl Stream for IdleTimeout {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(item) => {
                let next = Instant::now() + self.idle;
                self.timer.as_mut().reset(next);
                Poll::Ready(item)
            }
            Poll::Pending if self.timer.as_mut().poll(cx).is_ready() => {
                self.failed = true;
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the client sent nothing of its request body for too long",
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(body: &mut BudgetedBody) -> Vec<Bytes> {
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut chunks = Vec::new();
        while let Poll::Ready(Some(Ok(c))) = Pin::new(&mut *body).poll_next(&mut cx) {
            chunks.push(c);
        }
        chunks
    }

    #[test]
    fn the_buffer_of_a_sent_page_is_kept_for_the_next_one_and_small_ones_are_not() {
        let budget = ResponseBudget::new(10 << 20);
        let mut page = budget.buffer();
        page.resize(300_000, b'p');
        let capacity = page.capacity();
        let mut body = budget.body(page).unwrap();
        assert_eq!(
            budget.buffered(),
            capacity,
            "the budget counts what is allocated"
        );
        let chunks = drain(&mut body);
        assert!(
            budget.buffer().capacity() < capacity,
            "not back while chunks are held"
        );
        drop((body, chunks));
        let again = budget.buffer();
        assert!(again.is_empty() && again.capacity() == capacity);
        drop(budget.body(vec![b'r'; 4000]).unwrap());
        assert!(budget.buffer().capacity() < POOL_MIN_CAPACITY);
        for _ in 0..POOL_BUFFERS + 3 {
            drop(budget.body(vec![b'q'; POOL_MIN_CAPACITY]).unwrap());
        }
        assert_eq!(budget.pool.lock().unwrap().len(), POOL_BUFFERS);
    }

    #[test]
    fn a_small_answer_in_a_pooled_buffer_gives_the_buffer_back_and_a_page_keeps_it_whole() {
        let budget = ResponseBudget::new(10 << 20);
        let mut buffer = Vec::with_capacity(POOL_MAX_CAPACITY);
        buffer.extend_from_slice(b"<error code=\"noRecordsMatch\"/>");
        let body = budget.body(buffer).unwrap();
        assert!(
            budget.buffered() < POOL_MIN_CAPACITY,
            "the small answer holds its length"
        );
        assert_eq!(
            budget.buffer().capacity(),
            POOL_MAX_CAPACITY,
            "back at once"
        );
        drop(body);
        let mut buffer = Vec::with_capacity(POOL_MAX_CAPACITY);
        buffer.resize(300_000, b'p');
        drop(budget.body(buffer).unwrap());
        assert_eq!(
            budget.buffer().capacity(),
            POOL_MAX_CAPACITY,
            "a page's buffer is not shrunk, so the next page does not grow it again"
        );
    }

    #[test]
    fn a_body_holds_its_share_of_the_budget_until_its_last_chunk_is_taken() {
        let budget = ResponseBudget::new(100_000);
        let mut body = budget.body(vec![b'x'; 40_000]).unwrap();
        assert_eq!(budget.buffered(), 40_000);
        assert!(budget.body(vec![b'y'; 70_000]).is_none(), "over the budget");
        let chunks = drain(&mut body);
        assert!(body.bytes.is_empty());
        assert_eq!(
            chunks.iter().map(Bytes::len).collect::<Vec<_>>(),
            [CHUNK, CHUNK, 40_000 - 2 * CHUNK]
        );
        assert_eq!(budget.buffered(), 0);
        let dropped = budget.body(vec![b'z'; 70_000]).unwrap();
        assert_eq!(budget.buffered(), 70_000);
        assert!(budget.under_pressure() && !budget.nearly_full());
        drop(dropped);
        assert_eq!(budget.buffered(), 0);
    }
}
