//! Stopping a query's run on a node at once. Every stream a node serves (a stage partition
//! for a gather, an exchange's rows for a consumer) is tracked under its boundary name
//! (`<run>/s<n>`, `<run>/x<n>`). When a query fails, is cancelled or is re-planned, the
//! leader asks every node to cancel its run (`cancel_run`): each of the run's streams
//! ends with a "cancelled" error (dropping its operators, their memory and the streams
//! they read), exchanges whose consumers never came are dropped, and tickets of the run
//! that arrive later are refused. The answer comes once the run's streams are gone.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::Stream;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::telemetry::StreamFigures;

/// How long a cancelled run's name is kept, to refuse its late tickets.
const REMEMBERED: Duration = Duration::from_secs(300);

/// How long a cancel waits for the run's streams to go (a stream whose reader stopped
/// reading is dropped only when its connection gives up on it).
const WAIT: Duration = Duration::from_secs(10);

/// A stream being served: what it is, since when, and how to stop it.
struct Live {
    figures: StreamFigures,
    started: Instant,
    token: CancellationToken,
}

/// The streams a node is serving, by boundary, and the runs cancelled lately.
#[derive(Default)]
pub struct Runs {
    next: AtomicU64,
    live: Mutex<HashMap<u64, Live>>,
    cancelled: Mutex<Cancelled>,
    gone: Notify,
}

/// Runs cancelled lately, by run prefix (`<run>/`), oldest first for pruning.
#[derive(Default)]
struct Cancelled {
    runs: HashMap<String, Instant>,
    order: VecDeque<(String, Instant)>,
}

impl Cancelled {
    fn prune(&mut self) {
        while let Some((run, at)) = self.order.front() {
            if at.elapsed() < REMEMBERED {
                break;
            }
            if self.runs.get(run) == Some(at) {
                self.runs.remove(run);
            }
            self.order.pop_front();
        }
    }

    fn holds(&mut self, boundary: &str) -> bool {
        self.prune();
        boundary
            .split_inclusive('/')
            .next()
            .is_some_and(|run| self.runs.contains_key(run))
    }

    fn add(&mut self, prefix: &str) {
        let now = Instant::now();
        self.runs.insert(prefix.to_string(), now);
        self.order.push_back((prefix.to_string(), now));
        self.prune();
    }
}

impl Runs {
    /// Refuses a stream of a run cancelled lately.
    pub fn check(&self, boundary: &str) -> Result<(), Status> {
        if self.cancelled.lock().expect("runs").holds(boundary) {
            return Err(Status::cancelled(format!(
                "{boundary}: the query was cancelled"
            )));
        }
        Ok(())
    }

    /// Serves `inner` (the stream `figures` describes) until it ends or its run is
    /// cancelled.
    pub fn track<S>(self: &Arc<Self>, figures: StreamFigures, inner: S) -> Tracked<S> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        let cancelled = Box::pin(token.clone().cancelled_owned());
        let boundary = figures.boundary.clone();
        self.live.lock().expect("runs").insert(
            id,
            Live {
                figures,
                started: Instant::now(),
                token: token.clone(),
            },
        );
        // A cancel that came between the ticket's check and now found no stream to stop:
        // `cancel` records the run before it looks at the streams, so one of the two sees
        // the other.
        if self.cancelled.lock().expect("runs").holds(&boundary) {
            token.cancel();
        }
        Tracked {
            inner,
            cancelled,
            runs: Arc::clone(self),
            id,
            done: false,
        }
    }

    /// The streams of boundaries starting with `prefix` being served, each with the time
    /// it has run so far (`micros`).
    pub fn running(&self, prefix: &str) -> Vec<StreamFigures> {
        self.live
            .lock()
            .expect("runs")
            .values()
            .filter(|l| l.figures.boundary.starts_with(prefix))
            .map(|l| StreamFigures {
                micros: l.started.elapsed().as_micros() as u64,
                ..l.figures.clone()
            })
            .collect()
    }

    /// Cancels the streams of boundaries starting with `prefix`, and refuses later ones;
    /// returns how many were cancelled, once they are gone (or after [`WAIT`]).
    pub async fn cancel(&self, prefix: &str) -> usize {
        self.cancelled.lock().expect("runs").add(prefix);
        let mut count = 0;
        for live in self.live.lock().expect("runs").values() {
            if live.figures.boundary.starts_with(prefix) {
                live.token.cancel();
                count += 1;
            }
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let gone = self.gone.notified();
            if self.running(prefix).is_empty() {
                break;
            }
            if tokio::time::timeout_at(deadline, gone).await.is_err() {
                tracing::warn!(prefix, "cancelled streams still running");
                break;
            }
        }
        count
    }
}

/// A served stream that ends with a "cancelled" error when its run is cancelled.
pub struct Tracked<S> {
    inner: S,
    cancelled: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    runs: Arc<Runs>,
    id: u64,
    done: bool,
}

impl<S, T> Stream for Tracked<S>
where
    S: Stream<Item = Result<T, Status>> + Unpin,
{
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.cancelled.as_mut().poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(Some(Err(Status::cancelled("the query was cancelled"))));
        }
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

impl<S> Drop for Tracked<S> {
    fn drop(&mut self) {
        self.runs.live.lock().expect("runs").remove(&self.id);
        self.runs.gone.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn a_cancelled_run_ends_its_streams_and_refuses_new_ones() {
        let runs = Arc::new(Runs::default());
        let pending = futures::stream::pending::<Result<u32, Status>>();
        let stream = |boundary: &str| StreamFigures {
            boundary: boundary.into(),
            ..Default::default()
        };
        let mut a = runs.track(stream("q1.1/s1"), pending);
        let other = runs.track(
            stream("q2.1/s1"),
            futures::stream::iter([Ok::<u32, Status>(7)]),
        );
        let reader = tokio::spawn(async move {
            let first = a.next().await;
            let end = a.next().await;
            (first.map(|r| r.unwrap_err().code()), end.is_none())
        });
        // Yield until the reader waits on its stream.
        tokio::task::yield_now().await;
        assert_eq!(runs.cancel("q1.1/").await, 1);
        let (first, ended) = reader.await.unwrap();
        assert_eq!(first, Some(tonic::Code::Cancelled));
        assert!(ended);
        assert!(runs.running("q1.1/").is_empty());
        assert_eq!(runs.running("q2.1/").len(), 1);
        assert!(runs.check("q1.1/x2").is_err());
        assert!(runs.check("q2.1/x2").is_ok());
        drop(other);
        assert!(runs.running("").is_empty());
    }
}
