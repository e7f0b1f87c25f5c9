//! Network boundaries as DataFusion plan nodes. Each cuts a plan into stages: the part
//! below runs on the compute nodes, one partition per slice; the part above reads the
//! streams the boundary delivers over Arrow Flight.
//!
//! - [`GatherExec`]: every slice's stream to the leader.
//! - [`ExchangeExec`]: redistribute (by the placement hash, onto every slice) and
//!   broadcast (to every node), node to node.

mod gather;
mod keys;
mod shuffle;

pub use gather::GatherExec;
pub use keys::KeysExec;
pub use shuffle::{ExchangeExec, ExchangeRegistry, ExchangeSpec, home_node};

use std::sync::Arc;

use datafusion::common::Statistics;
use datafusion::physical_plan::StatisticsArgs;
use datafusion::physical_plan::statistics::ChildStats;

/// A boundary's statistics need its input's, as a whole (for EXPLAIN's estimates).
fn whole_input_request(partition: Option<usize>) -> Vec<ChildStats> {
    vec![match partition {
        None => ChildStats::At(None),
        Some(_) => ChildStats::Skip,
    }]
}

/// A boundary passes its whole input's figures through; a single partition's are unknown.
fn whole_input_statistics(
    input_stats: &[Arc<Statistics>],
    args: &StatisticsArgs,
    schema: &arrow::datatypes::SchemaRef,
) -> Arc<Statistics> {
    match (args.partition(), input_stats.first()) {
        (None, Some(whole)) => Arc::clone(whole),
        _ => Arc::new(Statistics::new_unknown(schema)),
    }
}
