//! A process's memory limit: DataFusion's memory pool and spill files.
//!
//! ```text
//!  memory_limit ("auto" | "512MiB" | bytes)
//!     └─► FairSpillPool(limit)            sorts, aggregates, repartitions: spill to disk
//!            │                            (a sort at the latest past `sort_cap`)
//!            └─► DiskManager(<data>/spill)  when their fair share is used up;
//!                                         hash joins (cannot spill): out of memory, 53200
//! ```
//!
//! Every query partition running in the process reserves from the one pool, so the limit
//! holds for the node as a whole, however many slices and queries it serves at once. An
//! operator that cannot spill and needs more fails its query with [`Code::OutOfMemory`],
//! whose message names the process ([`name_out_of_memory`]); nothing grows until the
//! kernel kills the process.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use blueshift_storage::placement::LocalNode;
use blueshift_storage::{Code, CodedError, datafusion_message};
use datafusion::error::DataFusionError;
use datafusion::error::Result as DfResult;
use datafusion::execution::TaskContext;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation, TrackConsumersPool,
};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};

use crate::error::{Error, Result};

/// The share of the machine's memory that `auto` gives one process when it has the
/// machine to itself (`blueshift dev` divides it among the processes it starts).
pub const AUTO_SHARE: f64 = 0.75;

/// Used when the machine's memory cannot be read.
const FALLBACK_BYTES: u64 = 4 << 30;

/// The machine's memory in bytes (`MemTotal`), if it can be read.
pub fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The bytes a `memory_limit` setting stands for: `auto` is [`AUTO_SHARE`] of the
/// machine's memory; otherwise a byte count with an optional unit (`k`, `M`, `G`, `T`,
/// each a power of 1024, with or without `B`/`iB`), as in `512MiB` or `2GB`.
pub fn parse_limit(setting: &str) -> Result<usize> {
    let text = setting.trim();
    if text.eq_ignore_ascii_case("auto") {
        let total = physical_memory().unwrap_or(FALLBACK_BYTES);
        return Ok((total as f64 * AUTO_SHARE) as usize);
    }
    let bytes = parse_size("memory_limit", setting)?;
    // Below a few MiB not even one batch of a sort fits.
    if bytes < 4 << 20 {
        return Err(Error::BadRequest(format!(
            "memory_limit {setting:?} is below the smallest limit, 4MiB"
        )));
    }
    Ok(bytes)
}

/// The bytes a `block_cache` setting stands for, taken out of `memory_limit` (queries get
/// the rest): `auto` is [`CACHE_SHARE`] of it from [`CACHE_MIN_LIMIT`] up (none below),
/// `0` none, otherwise a size as for [`parse_limit`], at most half the limit.
pub fn parse_cache(setting: &str, memory_limit: usize) -> Result<usize> {
    if setting.trim().eq_ignore_ascii_case("auto") {
        if memory_limit < CACHE_MIN_LIMIT {
            return Ok(0);
        }
        return Ok((memory_limit as f64 * CACHE_SHARE) as usize);
    }
    let bytes = parse_size("block_cache", setting)?;
    if bytes > memory_limit / 2 {
        return Err(Error::BadRequest(format!(
            "block_cache {setting:?} is more than half of memory_limit ({} MiB): queries \
             would be left too little",
            memory_limit >> 20
        )));
    }
    Ok(bytes)
}

/// The share of `memory_limit` that `block_cache = "auto"` keeps for decoded blocks.
pub const CACHE_SHARE: f64 = 0.25;

/// Below this `memory_limit`, `block_cache = "auto"` keeps nothing: the queries need it.
pub const CACHE_MIN_LIMIT: usize = 1 << 30;

/// A byte count with an optional unit (`k`, `M`, `G`, `T`, each a power of 1024, with or
/// without `B`/`iB`).
fn parse_size(name: &str, setting: &str) -> Result<usize> {
    let text = setting.trim();
    let bad = || {
        Error::BadRequest(format!(
            "{name} {setting:?}: expected \"auto\" or a size such as 512MiB or 4GB"
        ))
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let unit = unit.trim().to_ascii_lowercase();
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(bad()),
    };
    let bytes = number * (1u64 << shift) as f64;
    if !bytes.is_finite() {
        return Err(bad());
    }
    Ok(bytes as usize)
}

/// What each sort sets aside to merge the rows it holds (and later its spill files): an
/// eighth of a slice's share of the limit, so that every slice's sorts (a few stages
/// each, two per merge join) can spill together, and at most 64 MiB.
pub fn merge_reserve(limit: usize, slices: usize) -> usize {
    (limit / (8 * slices.max(1))).min(64 << 20)
}

/// The most one sort holds before it spills: twice [`merge_reserve`]. A sort reserves
/// twice the bytes of the rows it holds, and merging them into a spill file holds them
/// once more; so the merge fits in the memory the sort set aside for it, whatever its
/// neighbours on the node took meanwhile (without a cap, a sort alone on a node fills
/// the pool, and its merge then needs memory nobody has).
pub fn sort_cap(limit: usize, slices: usize) -> usize {
    // Not below a few batches, whatever the limit.
    (2 * merge_reserve(limit, slices)).max(1 << 20)
}

/// Rows per batch on a node: DataFusion's 8192, fewer when each slice has little memory.
/// A sort that spilled merges its files holding a batch or two of each in memory at once
/// (and a merge join runs two sorts per slice): smaller batches let those merges fit.
pub fn batch_rows(limit: usize, slices: usize) -> usize {
    let per_slice = limit / slices.max(1);
    match per_slice >> 20 {
        0..32 => 1024,
        32..128 => 2048,
        128..512 => 4096,
        _ => 8192,
    }
}

/// The share of its pool the leader sizes its sorts' memory by, as if it had this many
/// slices (its sorts share the pool as one node's slices do).
pub const LEADER_SLICES: usize = 4;

/// How many sorted runs a sort that spilled merges at once (more take further passes).
/// A merge sets aside memory for a batch or two of every run it reads, and left
/// unbounded it takes as many runs as the pool allows: the first of a node's sorts to
/// merge (a merge join has two per slice) could take all the memory the others need
/// for their first two runs, and they would fail. Each merge's share stays small.
pub fn merge_fan_in(limit: usize, slices: usize) -> usize {
    let per_slice = limit / slices.max(1);
    match per_slice >> 20 {
        0..32 => 4,
        32..128 => 8,
        128..512 => 16,
        _ => 64,
    }
}

/// The runtime a process's queries run in: a pool of `limit` bytes shared fairly by the
/// operators that can spill, and spill files in `spill_dir` (emptied here: files a
/// killed process left behind belong to no query); `slices` share the limit.
pub fn runtime(limit: usize, slices: usize, spill_dir: &Path) -> Result<Arc<RuntimeEnv>> {
    if spill_dir.exists() {
        std::fs::remove_dir_all(spill_dir)
            .map_err(|e| Error::BadRequest(format!("cannot empty {}: {e}", spill_dir.display())))?;
    }
    std::fs::create_dir_all(spill_dir)
        .map_err(|e| Error::BadRequest(format!("cannot create {}: {e}", spill_dir.display())))?;
    let top = NonZeroUsize::new(3).expect("three");
    let pool = SortCap {
        inner: TrackConsumersPool::new(FairSpillPool::new(limit), top),
        cap: sort_cap(limit, slices),
    };
    Ok(RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(pool))
        .with_disk_manager_builder(
            DiskManagerBuilder::default()
                .with_mode(DiskManagerMode::Directories(vec![spill_dir.to_path_buf()]))
                .with_max_spill_merge_fan_in(merge_fan_in(limit, slices)),
        )
        .build_arc()?)
}

/// The process's pool, with one rule added: a sort (DataFusion's `ExternalSorter`, by its
/// consumer's name) cannot grow past `cap`; refused, it spills its rows and goes on.
#[derive(Debug)]
struct SortCap<P> {
    inner: P,
    cap: usize,
}

/// The name DataFusion gives a sort's memory for the rows it holds (`ExternalSorter[n]`;
/// its merges are `ExternalSorterMerge[n]`).
const SORT_CONSUMER: &str = "ExternalSorter[";

/// Whether a sort holding `size` bytes may not take `additional` more under `cap`. A
/// batch's worth past the cap is refused, so the sort spills; a sliver (at most 1/64 of
/// the cap, up to 1/16 past it) is let through: a sort that never spilled realigns its
/// reservation once at its end to its rows concatenated (which can be a little larger,
/// a null bitmap made for every row, say) and cannot spill then, so a refusal would
/// fail its query.
fn over_cap(size: usize, additional: usize, cap: usize) -> bool {
    let after = size.saturating_add(additional);
    after > cap && (additional > cap / 64 || after > cap + cap / 16)
}

impl<P: MemoryPool> MemoryPool for SortCap<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn register(&self, consumer: &MemoryConsumer) {
        self.inner.register(consumer)
    }
    fn unregister(&self, consumer: &MemoryConsumer) {
        self.inner.unregister(consumer)
    }
    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.inner.grow(reservation, additional)
    }
    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.inner.shrink(reservation, shrink)
    }
    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> DfResult<()> {
        let consumer = reservation.consumer();
        if consumer.can_spill()
            && consumer.name().starts_with(SORT_CONSUMER)
            && over_cap(reservation.size(), additional, self.cap)
        {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{} may hold at most {} bytes before it spills",
                consumer.name(),
                self.cap
            )));
        }
        self.inner.try_grow(reservation, additional)
    }
    fn reserved(&self) -> usize {
        self.inner.reserved()
    }
    fn memory_limit(&self) -> MemoryLimit {
        self.inner.memory_limit()
    }
}

impl<P: MemoryPool> std::fmt::Display for SortCap<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (a sort spills past {} bytes)", self.inner, self.cap)
    }
}

/// A query's error as the user should read it: running out of memory says which process
/// ran out (a compute node, by its number, or the leader) and what its limit is, with the
/// code that becomes SQLSTATE 53200. Other errors, including one a process already named,
/// pass unchanged.
pub fn name_out_of_memory(context: &TaskContext, e: DataFusionError) -> DataFusionError {
    if CodedError::find(&e).is_some()
        || !matches!(e.find_root(), DataFusionError::ResourcesExhausted(_))
    {
        return e;
    }
    let who = match context.session_config().get_extension::<LocalNode>() {
        Some(node) => format!("compute node {}", node.0),
        None => "the leader".to_string(),
    };
    let limit = match context.memory_pool().memory_limit() {
        MemoryLimit::Finite(bytes) => format!("its memory_limit of {} MiB", bytes >> 20),
        _ => "its memory".to_string(),
    };
    let message = format!(
        "{who} is out of memory: the query needs more than {limit} and cannot spill ({})",
        datafusion_message(&e)
    );
    CodedError::new(Code::OutOfMemory, message).into()
}

/// The groups-to-rows ratio above which a partial aggregate stops grouping and passes its
/// rows on (DataFusion's default, 0.8, keeps grouping a key like an order number that
/// leaves four rows in five: at SF1 that took longer than redistributing the rows).
pub const SKIP_PARTIAL_AGGREGATION_RATIO: f64 = 0.5;

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{SessionConfig, SessionContext};

    #[test]
    fn limits_parse_with_units() {
        assert_eq!(parse_limit("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_limit("2GB").unwrap(), 2 << 30);
        assert_eq!(parse_limit(" 1.5g ").unwrap(), 3 << 29);
        assert_eq!(parse_limit("67108864").unwrap(), 64 << 20);
        assert!(parse_limit("auto").unwrap() >= 4 << 20);
        for bad in ["", "lots", "12 parsecs", "1k", "-5GB", "NaN"] {
            assert!(parse_limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_block_cache_is_a_share_of_the_limit() {
        assert_eq!(parse_cache("auto", 8 << 30).unwrap(), 2 << 30);
        assert_eq!(
            parse_cache("auto", 512 << 20).unwrap(),
            0,
            "small limits keep it all"
        );
        assert_eq!(parse_cache("0", 8 << 30).unwrap(), 0);
        assert_eq!(parse_cache("1GiB", 8 << 30).unwrap(), 1 << 30);
        let err = parse_cache("5GiB", 8 << 30).unwrap_err().to_string();
        assert!(err.contains("more than half"), "{err}");
        assert!(parse_cache("lots", 8 << 30).is_err());
    }

    #[test]
    fn a_sort_spills_at_its_cap_and_nothing_else_does() {
        let dir = std::env::temp_dir().join(format!("bs-sort-cap-{}", std::process::id()));
        let rt = runtime(64 << 20, 2, &dir).unwrap();
        let cap = sort_cap(64 << 20, 2);
        assert_eq!(cap, 8 << 20);
        let sort = MemoryConsumer::new("ExternalSorter[1]")
            .with_can_spill(true)
            .register(&rt.memory_pool);
        sort.try_grow(cap - 10).unwrap();
        let refused = sort.try_grow(cap / 64 + 1).unwrap_err();
        assert!(matches!(refused, DataFusionError::ResourcesExhausted(_)));
        assert_eq!(sort.size(), cap - 10, "a refused grow takes nothing");
        // Slivers pass, up to a sixteenth past the cap.
        while sort.size() + cap / 64 <= cap + cap / 16 {
            sort.try_grow(cap / 64).unwrap();
        }
        assert!(sort.size() > cap);
        assert!(
            sort.try_grow(cap / 64).is_err(),
            "no further than a sixteenth"
        );
        // A sort's merge, an aggregate and a hash join grow on to the pool's limit.
        for name in [
            "ExternalSorterMerge[1]",
            "GroupedHashAggregateStream[0]",
            "HashJoinInput[0]",
        ] {
            let other = MemoryConsumer::new(name)
                .with_can_spill(name.starts_with("Grouped"))
                .register(&rt.memory_pool);
            other.try_grow(cap + 1).unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_exhaustion_is_named() {
        let dir = std::env::temp_dir().join(format!("bs-memory-{}", std::process::id()));
        let rt = runtime(64 << 20, 2, &dir).unwrap();
        let node = SessionConfig::new().with_extension(Arc::new(LocalNode(1)));
        let node = SessionContext::new_with_config_rt(node, Arc::clone(&rt)).task_ctx();
        let leader = SessionContext::new_with_config_rt(SessionConfig::new(), rt).task_ctx();
        let oom = DataFusionError::ResourcesExhausted("Failed to allocate".into());
        let named = name_out_of_memory(&node, oom);
        assert_eq!(Code::of_datafusion(&named), Code::OutOfMemory);
        let text = datafusion_message(&named);
        assert!(
            text.starts_with("compute node 1 is out of memory"),
            "{text}"
        );
        assert!(text.contains("64 MiB"), "{text}");
        // Named once: the leader passing a node's error on does not rename it.
        let again = name_out_of_memory(&leader, named);
        assert!(datafusion_message(&again).starts_with("compute node 1"));
        let own = name_out_of_memory(&leader, DataFusionError::ResourcesExhausted("x".into()));
        assert!(datafusion_message(&own).starts_with("the leader is out of memory"));
        let other = DataFusionError::Plan("nope".into());
        assert_eq!(
            Code::of_datafusion(&name_out_of_memory(&leader, other)),
            Code::Internal
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
