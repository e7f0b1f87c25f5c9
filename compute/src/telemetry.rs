//! What each stream a node served measured: rows, bytes sent over the network and time,
//! per boundary (a gather's stage, an exchange) and partition. The leader asks for a run's
//! figures (`query_figures`) for EXPLAIN ANALYZE and `svl_query_summary`.
//!
//! ```text
//!  do_get ─► stage / exchange producer ─► Measured (rows, FlightData bytes, time) ─► client
//!                                             └─ ended or dropped ─► Telemetry (10 min)
//! ```

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arrow_flight::FlightData;
use futures::Stream;
use serde::{Deserialize, Serialize};

/// One stream's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamFigures {
    /// The boundary the stream fed: a gather's stage (`<run>/s<n>`) or an exchange
    /// (`<run>/x<n>`); `<run>` starts with the query's number and a dot.
    pub boundary: String,
    /// `return` (rows to the leader), `dist` (redistributed) or `bcast` (broadcast).
    pub label: String,
    /// The node that sent the rows.
    pub node: u32,
    /// A gather's partition (its slice's), or the consumer partition an exchange fed.
    pub partition: u32,
    pub rows: u64,
    /// Bytes of the Arrow Flight messages sent.
    pub bytes: u64,
    /// From the request to the stream's end, in microseconds.
    pub micros: u64,
    /// Whether any operator of the stage spilled to disk.
    pub spilled: bool,
    /// Per operator of the stage that fed the stream, in pre-order down to the next
    /// boundaries: rows out and compute time in nanoseconds. A gather's stream has its
    /// partition's; an exchange's has the node's producers' (complete in the stream that
    /// ended last).
    #[serde(default)]
    pub operators: Vec<(u64, u64)>,
}

impl StreamFigures {
    /// The query a boundary belongs to (the number its run starts with).
    pub fn query(&self) -> Option<i64> {
        self.boundary.split('.').next()?.parse().ok()
    }
}

/// A node's recent figures.
#[derive(Default)]
pub struct Telemetry {
    kept: std::sync::Mutex<VecDeque<(Instant, StreamFigures)>>,
}

impl Telemetry {
    const KEPT: Duration = Duration::from_secs(600);
    const MOST: usize = 100_000;

    fn record(&self, figures: StreamFigures) {
        let mut kept = self.kept.lock().expect("telemetry");
        while kept
            .front()
            .is_some_and(|(at, _)| at.elapsed() > Self::KEPT || kept.len() >= Self::MOST)
        {
            kept.pop_front();
        }
        kept.push_back((Instant::now(), figures));
    }

    /// Figures of boundaries whose name starts with `prefix` (all with an empty one).
    pub fn matching(&self, prefix: &str) -> Vec<StreamFigures> {
        self.kept
            .lock()
            .expect("telemetry")
            .iter()
            .filter(|(at, f)| at.elapsed() <= Self::KEPT && f.boundary.starts_with(prefix))
            .map(|(_, f)| f.clone())
            .collect()
    }
}

/// Counts rows a stream produced; shared between the batch stream and [`Measured`].
#[derive(Clone, Default)]
pub struct RowCount(Arc<AtomicU64>);

impl RowCount {
    pub fn add(&self, rows: usize) {
        self.0.fetch_add(rows as u64, Ordering::Relaxed);
    }
}

/// A `do_get` answer that records its figures when it ends or is dropped.
pub struct Measured<S> {
    inner: S,
    figures: StreamFigures,
    rows: RowCount,
    started: Instant,
    after: Option<After>,
    telemetry: Arc<Telemetry>,
    recorded: bool,
}

/// Reads, when a stream ends, whether its stage spilled and its operators' figures.
pub type After = Box<dyn Fn() -> (bool, Vec<(u64, u64)>) + Send>;

impl<S> Measured<S> {
    pub fn new(
        inner: S,
        figures: StreamFigures,
        rows: RowCount,
        after: Option<After>,
        telemetry: Arc<Telemetry>,
    ) -> Self {
        Measured {
            inner,
            figures,
            rows,
            started: Instant::now(),
            after,
            telemetry,
            recorded: false,
        }
    }

    fn finish(&mut self) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let mut figures = std::mem::take(&mut self.figures);
        figures.rows = self.rows.0.load(Ordering::Relaxed);
        figures.micros = self.started.elapsed().as_micros() as u64;
        if let Some(after) = &self.after {
            (figures.spilled, figures.operators) = after();
        }
        self.telemetry.record(figures);
    }
}

/// What a stream's item put on the network.
pub trait Sent {
    fn sent_bytes(&self) -> u64;
}

impl Sent for FlightData {
    fn sent_bytes(&self) -> u64 {
        (self.data_header.len() + self.data_body.len()) as u64
    }
}

/// A batch handed over in the process (an exchange's consumer on a producer node).
impl Sent for arrow::array::RecordBatch {
    fn sent_bytes(&self) -> u64 {
        0
    }
}

impl<S, T, E> Stream for Measured<S>
where
    S: Stream<Item = Result<T, E>> + Unpin,
    T: Sent,
{
    type Item = Result<T, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(data))) => {
                self.figures.bytes += data.sent_bytes();
            }
            Poll::Ready(_) => self.finish(),
            Poll::Pending => {}
        }
        polled
    }
}

impl<S> Drop for Measured<S> {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The figures of a stage's operators in pre-order, down to and including the boundaries
/// below it: rows out and compute nanoseconds, for `partition` (all when None); and
/// whether any of them spilled.
pub fn operator_figures(
    plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    partition: Option<usize>,
) -> (bool, Vec<(u64, u64)>) {
    fn walk(
        plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        partition: Option<usize>,
        spilled: &mut bool,
        out: &mut Vec<(u64, u64)>,
    ) {
        let (mut rows, mut nanos) = (0, 0);
        for m in plan
            .metrics()
            .iter()
            .flat_map(|m| m.iter().cloned().collect::<Vec<_>>())
        {
            if partition.is_some() && m.partition().is_some() && m.partition() != partition {
                continue;
            }
            let value = m.value();
            match value.name() {
                "output_rows" => rows += value.as_usize() as u64,
                "elapsed_compute" => nanos += value.as_usize() as u64,
                "spill_count" if value.as_usize() > 0 => *spilled = true,
                _ => {}
            }
        }
        out.push((rows, nanos));
        if plan.is::<crate::exchange::ExchangeExec>() {
            return;
        }
        for child in plan.children() {
            walk(child, partition, spilled, out);
        }
    }
    let (mut spilled, mut out) = (false, Vec::new());
    walk(plan, partition, &mut spilled, &mut out);
    (spilled, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn a_stream_records_its_rows_bytes_and_end() {
        let telemetry = Arc::new(Telemetry::default());
        let rows = RowCount::default();
        let data = |n: usize| FlightData {
            data_body: vec![0u8; n].into(),
            ..Default::default()
        };
        let inner = futures::stream::iter(vec![Ok::<_, ()>(data(10)), Ok(data(5))]);
        let figures = StreamFigures {
            boundary: "42.ab.0/s1".into(),
            label: "return".into(),
            ..Default::default()
        };
        rows.add(7);
        let mut measured = Measured::new(
            inner,
            figures,
            rows.clone(),
            Some(Box::new(|| (true, vec![(7, 100)]))),
            Arc::clone(&telemetry),
        );
        while measured.next().await.is_some() {}
        drop(measured);
        let got = telemetry.matching("42.");
        assert_eq!(got.len(), 1, "recorded once");
        assert_eq!((got[0].rows, got[0].bytes, got[0].spilled), (7, 15, true));
        assert_eq!(got[0].operators, vec![(7, 100)]);
        assert_eq!(got[0].query(), Some(42));
        assert!(telemetry.matching("43.").is_empty());
    }
}
