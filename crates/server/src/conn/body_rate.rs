//! Minimum request-body rate (issue #16, `MIN_BODY_RATE`): uploads may be large, so the
//! rule is a rate, not a fixed deadline. From the handler's first read, after `grace`
//! the body must have delivered at least `rate * (elapsed - grace)` bytes, and no gap
//! between two chunks may exceed `grace`. A body that falls behind fails with
//! [`BodyTooSlow`] (the API answers 408).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use tokio::time::{Instant, Sleep};

/// The error of a body that arrived slower than the minimum rate.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived slower than the minimum rate")]
pub struct BodyTooSlow;

/// A request body with a minimum rate in bytes per second.
pub struct MinRateBody {
    inner: Body,
    rate: u64,
    grace: Duration,
    started: Option<Instant>,
    last: Instant,
    received: u64,
    timer: Pin<Box<Sleep>>,
}

impl MinRateBody {
    /// Wraps `inner`; `rate` is bytes/s (0 disables the check), `grace` the initial
    /// allowance and the longest gap between chunks.
    pub fn new(inner: Body, rate: u64, grace: Duration) -> Self {
        let now = Instant::now();
        MinRateBody {
            inner,
            rate,
            grace,
            started: None,
            last: now,
            received: 0,
            timer: Box::pin(tokio::time::sleep_until(now + grace)),
        }
    }

    fn deadline(&self, started: Instant) -> Instant {
        let by_rate =
            started + self.grace + Duration::from_secs_f64(self.received as f64 / self.rate as f64);
        by_rate.min(self.last + self.grace)
    }
}

impl HttpBody for MinRateBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        if self.rate == 0 {
            return Pin::new(&mut self.inner).poll_frame(cx);
        }
        let started = match self.started {
            Some(s) => s,
            None => {
                let now = Instant::now();
                self.started = Some(now);
                self.last = now;
                let d = self.deadline(now);
                self.timer.as_mut().reset(d);
                now
            }
        };
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.received += data.len() as u64;
                    self.last = Instant::now();
                    let d = self.deadline(started);
                    self.timer.as_mut().reset(d);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTooSlow)))),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// True when `err` (or an error it wraps) is [`BodyTooSlow`].
pub fn is_too_slow(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.is::<BodyTooSlow>() {
            return true;
        }
        cur = e.source();
    }
    false
}
