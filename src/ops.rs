//! Operator commands: `snapshot create|list|describe|copy|delete`, `restore` and
//! `restore-table`.
//!
//! The `snapshot` commands run through the leader (SQL over pgwire, as psql would send it:
//! `CREATE SNAPSHOT`, `DROP SNAPSHOT`, `svv_snapshots`), so the leader alone writes to its
//! snapshot locations. `restore` reads the object store directly, so it works while the
//! cluster is gone, from either region.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use blueshift_snapshots::lazy::{LazyFile, LazyPlan};
use blueshift_snapshots::restore::{RestoreProgress, node_dir};
use blueshift_snapshots::{Location, Manifest, Record, SnapshotConfig};
use blueshift_storage::Stores;
use blueshift_storage::placement::Topology;
use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, Result};

/// Where the running cluster's leader is (like psql's `-h`, `-p`, `-U`).
#[derive(Debug, Clone, clap::Args)]
pub struct LeaderAddr {
    /// Leader host [default: [leader] host]
    #[arg(long)]
    pub host: Option<String>,
    /// Leader port [default: [leader] port]
    #[arg(long)]
    pub port: Option<u16>,
    /// User name
    #[arg(short = 'U', long = "user", default_value = "admin")]
    pub user: String,
}

/// The leader's data folder: `[storage] data_dir`, or its `leader/` folder when that is
/// a `blueshift dev` folder.
pub fn leader_data_dir(config: &Config) -> PathBuf {
    let dir = &config.storage.data_dir;
    if dir.join("leader").join("catalog").exists() {
        dir.join("leader")
    } else {
        dir.clone()
    }
}

/// The location holding snapshots of `region` (the primary one when `None`).
pub fn location(config: &Config, region: Option<&str>) -> Result<Location> {
    let snapshots: &SnapshotConfig = &config.snapshots;
    let (url, region_name) = snapshots
        .location_of(region, &leader_data_dir(config))
        .ok_or_else(|| {
            Error::Config(format!(
                "no snapshot location for region {:?}: [snapshots] names region {:?} and copy_to_region {:?}",
                region.unwrap_or_default(),
                snapshots.region,
                snapshots.copy_to_region
            ))
        })?;
    let stores = Stores::new(config.store_config());
    Ok(Location::open(&stores, &url, &region_name)?)
}

/// The password the command signs in with, as psql finds one: `PGPASSWORD`; for `admin`,
/// also `[leader] admin_password`, or the generated one kept in the leader's data folder.
fn password_for(config: &Config, user: &str) -> Option<String> {
    if let Ok(p) = std::env::var("PGPASSWORD") {
        return Some(p);
    }
    if user != "admin" {
        return None;
    }
    if !config.leader.admin_password.is_empty() {
        return Some(config.leader.admin_password.clone());
    }
    std::fs::read_to_string(leader_data_dir(config).join("admin_password"))
        .ok()
        .map(|p| p.trim_end().to_string())
}

/// A pgwire session with the leader; NOTICEs arrive on the returned channel.
async fn connect(
    config: &Config,
    addr: &LeaderAddr,
) -> Result<(
    tokio_postgres::Client,
    tokio::sync::mpsc::UnboundedReceiver<String>,
)> {
    let host = addr
        .host
        .clone()
        .unwrap_or_else(|| config.leader.host.clone());
    let port = addr.port.unwrap_or(config.leader.port);
    let mut pg = tokio_postgres::Config::new();
    // A port that accepts and never answers is an error, not a wait without end.
    pg.host(&host)
        .port(port)
        .user(&addr.user)
        .dbname("dev")
        .connect_timeout(Duration::from_secs(30));
    if let Some(password) = password_for(config, &addr.user) {
        pg.password(password);
    }
    let (client, mut connection) = pg
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| Error::Io(format!("cannot reach the leader at {host}:{port}: {e}")))?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(m)) = futures::StreamExt::next(&mut messages).await {
            if let tokio_postgres::AsyncMessage::Notice(n) = m {
                let _ = tx.send(n.message().to_string());
            }
        }
    });
    Ok((client, rx))
}

fn sql_error(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => Error::Io(format!("{} (SQLSTATE {})", db.message(), db.code().code())),
        None => Error::Io(e.to_string()),
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A progress bar on a terminal, plain lines (at most one a second) otherwise.
struct Bar {
    bar: Option<indicatif::ProgressBar>,
    what: &'static str,
    last: Option<Instant>,
    finished: bool,
}

impl Bar {
    fn new(what: &'static str, quiet: bool) -> Bar {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {elapsed}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            b.set_message(what);
            b
        });
        Bar {
            bar,
            what,
            last: (!quiet).then(|| Instant::now() - Duration::from_secs(2)),
            finished: false,
        }
    }

    fn update(&mut self, files: (u64, u64), bytes: (u64, u64)) {
        if let Some(b) = &self.bar {
            b.set_length(bytes.1);
            b.set_position(bytes.0);
            return;
        }
        let Some(last) = self.last else { return };
        let finished = files.0 == files.1;
        if (last.elapsed() >= Duration::from_secs(1) && !finished) || (finished && !self.finished) {
            self.last = Some(Instant::now());
            self.finished = finished;
            eprintln!(
                "{}: files {}/{}, bytes {}/{}",
                self.what, files.0, files.1, bytes.0, bytes.1
            );
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Reads `snapshot progress: files d/t, bytes d/t`.
fn parse_progress(notice: &str) -> Option<((u64, u64), (u64, u64))> {
    let rest = notice.strip_prefix("snapshot progress: files ")?;
    let (files, bytes) = rest.split_once(", bytes ")?;
    let pair = |s: &str| -> Option<(u64, u64)> {
        let (a, b) = s.split_once('/')?;
        Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
    };
    Some((pair(files)?, pair(bytes)?))
}

pub async fn snapshot_create(
    config: &Config,
    addr: &LeaderAddr,
    name: &str,
    retention_days: Option<u32>,
    json: bool,
) -> Result<()> {
    let (client, mut notices) = connect(config, addr).await?;
    let mut sql = format!("CREATE SNAPSHOT {}", quote(name));
    if let Some(d) = retention_days {
        sql.push_str(&format!(" RETENTION {d} DAYS"));
    }
    let mut bar = Bar::new("snapshot", json);
    let run = client.batch_execute(&sql);
    tokio::pin!(run);
    let outcome = loop {
        tokio::select! {
            out = &mut run => break out,
            Some(n) = notices.recv() => {
                if let Some((files, bytes)) = parse_progress(&n) {
                    bar.update(files, bytes);
                }
            }
        }
    };
    bar.finish();
    outcome.map_err(sql_error)?;
    let record = listing(config, addr)
        .await?
        .into_iter()
        .find(|l| l.record.name == name)
        .map(|l| l.record)
        .ok_or_else(|| Error::Io(format!("snapshot {name} was made but is not listed")))?;
    if json {
        print_json(&record)?;
    } else {
        println!(
            "snapshot {} created: commit {}, {} tables, {} rows, {} bytes, {} bytes uploaded in {} files",
            record.name,
            record.commit,
            record.tables.len(),
            record.rows,
            record.bytes,
            record.bytes_uploaded,
            record.files_uploaded
        );
    }
    Ok(())
}

pub async fn snapshot_copy(
    config: &Config,
    addr: &LeaderAddr,
    name: &str,
    region: &str,
) -> Result<()> {
    let (client, mut notices) = connect(config, addr).await?;
    client
        .batch_execute(&format!(
            "COPY SNAPSHOT {} TO REGION {}",
            quote(name),
            quote(region)
        ))
        .await
        .map_err(sql_error)?;
    while let Ok(n) = notices.try_recv() {
        println!("{n}");
    }
    Ok(())
}

pub async fn restore_table(
    config: &Config,
    addr: &LeaderAddr,
    snapshot: &str,
    source: &str,
    target: &str,
    region: Option<&str>,
) -> Result<()> {
    let (client, mut notices) = connect(config, addr).await?;
    let mut sql = format!(
        "RESTORE TABLE \"{}\" FROM SNAPSHOT {} TABLE \"{}\"",
        target.replace('"', "\"\""),
        quote(snapshot),
        source.replace('"', "\"\"")
    );
    if let Some(r) = region {
        sql.push_str(&format!(" REGION {}", quote(r)));
    }
    client.batch_execute(&sql).await.map_err(sql_error)?;
    while let Ok(n) = notices.try_recv() {
        println!("{n}");
    }
    Ok(())
}

pub async fn snapshot_delete(config: &Config, addr: &LeaderAddr, name: &str) -> Result<()> {
    let (client, _) = connect(config, addr).await?;
    client
        .batch_execute(&format!("DROP SNAPSHOT {}", quote(name)))
        .await
        .map_err(sql_error)?;
    println!("snapshot {name} deleted");
    Ok(())
}

#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    record: Record,
    status: &'static str,
    regions: Vec<String>,
}

/// The leader's `svv_snapshots`: every snapshot with the regions holding it.
async fn listing(config: &Config, addr: &LeaderAddr) -> Result<Vec<Listed>> {
    let (client, _) = connect(config, addr).await?;
    let rows = client
        .query(
            "SELECT record, regions FROM svv_snapshots ORDER BY created_at, snapshot_name",
            &[],
        )
        .await
        .map_err(sql_error)?;
    rows.iter()
        .map(|row| {
            let record: String = row.try_get(0).map_err(sql_error)?;
            let regions: String = row.try_get(1).map_err(sql_error)?;
            Ok(Listed {
                record: serde_json::from_str(&record).map_err(|e| Error::Io(e.to_string()))?,
                status: "available",
                regions: regions.split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

pub async fn snapshot_list(
    config: &Config,
    addr: &LeaderAddr,
    region: Option<&str>,
    json: bool,
) -> Result<()> {
    let mut listed = listing(config, addr).await?;
    if let Some(r) = region {
        listed.retain(|l| l.regions.iter().any(|x| x == r));
    }
    if json {
        return print_json(&listed);
    }
    println!(
        "{:<28} {:<9} {:>7} {:<24} {:>6} {:>12} {:>14} {:>14} {:<9} regions",
        "name", "kind", "commit", "created", "tables", "rows", "bytes", "uploaded", "status"
    );
    for l in &listed {
        let r = &l.record;
        println!(
            "{:<28} {:<9} {:>7} {:<24} {:>6} {:>12} {:>14} {:>14} {:<9} {}",
            r.name,
            r.kind.as_str(),
            r.commit,
            r.created_at,
            r.tables.len(),
            r.rows,
            r.bytes,
            r.bytes_uploaded,
            l.status,
            l.regions.join(",")
        );
    }
    Ok(())
}

pub async fn snapshot_describe(
    config: &Config,
    addr: &LeaderAddr,
    name: &str,
    json: bool,
) -> Result<()> {
    let listed = listing(config, addr).await?;
    let l = listed
        .into_iter()
        .find(|l| l.record.name == name)
        .ok_or_else(|| Error::Io(format!("snapshot \"{name}\" does not exist")))?;
    if json {
        return print_json(&l);
    }
    let r = &l.record;
    println!("name:           {}", r.name);
    println!("kind:           {}", r.kind.as_str());
    println!("cluster:        {}", r.cluster_id);
    println!("commit:         {}", r.commit);
    println!("created:        {}", r.created_at);
    println!(
        "retention:      {}",
        r.retention_days
            .map_or("until deleted".to_string(), |d| format!("{d} days"))
    );
    println!(
        "topology:       {} nodes x {} slices",
        r.topology.nodes, r.topology.slices_per_node
    );
    println!("rows:           {}", r.rows);
    println!("bytes:          {} in {} files", r.bytes, r.files);
    println!(
        "uploaded:       {} bytes in {} files",
        r.bytes_uploaded, r.files_uploaded
    );
    println!("regions:        {}", l.regions.join(","));
    println!("{:<32} {:>12} {:>14} checksum", "table", "rows", "bytes");
    for t in &r.tables {
        println!(
            "{:<32} {:>12} {:>14} {}",
            t.name, t.rows, t.bytes, t.checksum
        );
    }
    Ok(())
}

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).map_err(|e| Error::Io(e.to_string()))?
    );
    Ok(())
}

pub struct RestoreOpts {
    pub snapshot: String,
    pub region: Option<String>,
    pub location: Option<String>,
    pub data_dir: PathBuf,
    pub nodes: Option<u32>,
    pub slices_per_node: Option<u32>,
    /// Write the catalog only; the nodes fetch their files when first read and in the
    /// background.
    pub lazy: bool,
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct RestoreReport {
    pub snapshot: String,
    pub region: String,
    pub data_dir: String,
    pub nodes: u32,
    pub slices_per_node: u32,
    pub tables: usize,
    pub rows: u64,
    pub files_downloaded: u64,
    pub bytes_downloaded: u64,
    /// Restored lazily: files (and their bytes) the nodes fetch as they run.
    pub lazy: bool,
    pub files_to_fetch: u64,
    pub bytes_to_fetch: u64,
    pub seconds: f64,
    pub checks: Vec<blueshift_snapshots::restore::TableCheck>,
}

/// Builds a data folder that `blueshift dev --data-dir DIR` starts, from a snapshot.
pub async fn restore(config: &Config, opts: &RestoreOpts) -> Result<RestoreReport> {
    let started = Instant::now();
    let loc = match &opts.location {
        Some(url) => Location::open(
            &Stores::new(config.store_config()),
            url,
            opts.region.as_deref().unwrap_or(&config.snapshots.region),
        )?,
        None => location(config, opts.region.as_deref())?,
    };
    let record = loc.record(&opts.snapshot).await?.ok_or_else(|| {
        Error::Io(format!(
            "snapshot \"{}\" does not exist in region {}",
            opts.snapshot,
            loc.region_name()
        ))
    })?;
    let topology = Topology {
        nodes: opts.nodes.unwrap_or(record.topology.nodes),
        slices_per_node: opts
            .slices_per_node
            .unwrap_or(record.topology.slices_per_node),
    };
    if topology.nodes == 0 || topology.slices_per_node == 0 {
        return Err(Error::Config(
            "--nodes and --slices-per-node must be at least 1".into(),
        ));
    }
    let dest = &opts.data_dir;
    if dest.exists()
        && std::fs::read_dir(dest)
            .map_err(|e| Error::Io(format!("{}: {e}", dest.display())))?
            .next()
            .is_some()
    {
        return Err(Error::Config(format!(
            "{} is not empty: restore builds a new data folder",
            dest.display()
        )));
    }
    if opts.lazy && topology != record.topology {
        return Err(Error::Config(format!(
            "--lazy restores onto the snapshot's own topology ({} nodes x {} slices); re-slicing reads every row, so restore without --lazy",
            record.topology.nodes, record.topology.slices_per_node
        )));
    }
    let staging = staging_dir(dest)?;
    let outcome = match opts.lazy {
        true => build_lazy(&loc, &record, &staging).await,
        false => build(&loc, &record, &staging, topology, opts.json).await,
    };
    let restored = match outcome {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if dest.exists() {
        std::fs::remove_dir(dest).map_err(|e| Error::Io(format!("{}: {e}", dest.display())))?;
    }
    // The folder appears whole: renamed into place only once everything is written.
    std::fs::rename(&staging, dest).map_err(|e| {
        Error::Io(format!(
            "cannot move the restored cluster to {}: {e}",
            dest.display()
        ))
    })?;
    if let Some(parent) = dest.parent() {
        blueshift_storage::sync_dir(parent)?;
    }
    Ok(RestoreReport {
        snapshot: record.name.clone(),
        region: loc.region_name(),
        data_dir: dest.display().to_string(),
        nodes: topology.nodes,
        slices_per_node: topology.slices_per_node,
        // A lazy restore counts nothing yet: the record's figures.
        tables: record.tables.len(),
        rows: record.tables.iter().map(|t| t.rows).sum(),
        files_downloaded: restored.files_downloaded,
        bytes_downloaded: restored.bytes_downloaded,
        lazy: opts.lazy,
        files_to_fetch: restored.files_to_fetch,
        bytes_to_fetch: restored.bytes_to_fetch,
        seconds: started.elapsed().as_secs_f64(),
        checks: restored.checks,
    })
}

/// A sibling of `dest` that is never mistaken for a data folder.
fn staging_dir(dest: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(dest).map_err(|e| Error::Io(e.to_string()))?;
    let parent = abs
        .parent()
        .ok_or_else(|| Error::Config(format!("{} has no parent folder", abs.display())))?;
    std::fs::create_dir_all(parent).map_err(|e| Error::Io(format!("{}: {e}", parent.display())))?;
    let name = abs
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "cluster".into());
    // Staging folders of earlier restores to this folder that were killed go first.
    let prefix = format!(".{name}.restoring-");
    for entry in std::fs::read_dir(parent)
        .map_err(|e| Error::Io(format!("{}: {e}", parent.display())))?
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            std::fs::remove_dir_all(entry.path())
                .map_err(|e| Error::Io(format!("{}: {e}", entry.path().display())))?;
        }
    }
    Ok(parent.join(format!("{prefix}{}", std::process::id())))
}

/// What a restore put into its staging folder.
struct Built {
    files_downloaded: u64,
    bytes_downloaded: u64,
    files_to_fetch: u64,
    bytes_to_fetch: u64,
    checks: Vec<blueshift_snapshots::restore::TableCheck>,
}

/// The restored cluster's first commit (the manifest's tables, as placed on `topology`,
/// and its views), in `staging/leader`, unlocked for `dev` to open.
fn write_catalog(staging: &Path, topology: Topology, manifest: &Manifest) -> Result<()> {
    let tables = manifest
        .tables
        .iter()
        .map(|(n, t)| (n.clone(), (t.def.clone(), t.data.clone())))
        .collect();
    blueshift_leader::create_restored(
        &staging.join("leader"),
        topology,
        manifest.next_table_id,
        tables,
        manifest.views.clone(),
        manifest.security.clone(),
    )?;
    let _ = std::fs::remove_file(staging.join("leader").join("catalog").join("LOCK"));
    Ok(())
}

/// A lazy restore's folder: the catalog, and on each node the plan of the files its
/// slices name. Nothing is downloaded but the manifest; each file is checked against its
/// hash when a node fetches it.
async fn build_lazy(loc: &Location, record: &Record, staging: &Path) -> Result<Built> {
    let manifest = loc.manifest(record).await?;
    let topology = manifest.topology;
    let mut plans: Vec<LazyPlan> = (0..topology.nodes)
        .map(|_| LazyPlan {
            snapshot: record.name.clone(),
            location: loc.url.clone(),
            region: loc.region.clone(),
            files: Vec::new(),
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for image in manifest.tables.values() {
        for (slice, m) in &image.data.slices {
            for b in &m.blocks {
                for file in blueshift_snapshots::format::block_files(b) {
                    if seen.insert((*slice, file.id.clone(), file.delete_vector)) {
                        plans[topology.node_of(*slice) as usize]
                            .files
                            .push(LazyFile {
                                slice: *slice,
                                file,
                            });
                    }
                }
            }
        }
    }
    write_catalog(staging, topology, &manifest)?;
    for (n, plan) in plans.iter().enumerate() {
        let dir = node_dir(staging, n as u32);
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
        blueshift_snapshots::lazy::write_plan(&dir, plan)?;
    }
    let files = plans.iter().flat_map(|p| &p.files);
    Ok(Built {
        files_downloaded: 0,
        bytes_downloaded: 0,
        files_to_fetch: files.clone().count() as u64,
        bytes_to_fetch: files.map(|f| f.file.bytes).sum(),
        checks: Vec::new(),
    })
}

async fn build(
    loc: &Location,
    record: &Record,
    staging: &Path,
    topology: Topology,
    quiet: bool,
) -> Result<Built> {
    let bar = std::sync::Mutex::new(Bar::new("restore", quiet));
    let progress = |p: RestoreProgress| {
        let total = record.bytes.max(p.bytes_downloaded);
        bar.lock()
            .expect("progress bar")
            .update((p.files_done, p.files_total), (p.bytes_downloaded, total));
    };
    let restored =
        blueshift_snapshots::restore::restore(loc, record, staging, topology, None, &progress)
            .await;
    bar.lock().expect("progress bar").finish();
    let restored = restored?;
    let mut manifest = restored.manifest.clone();
    manifest.tables = restored.tables.clone();
    write_catalog(staging, topology, &manifest)?;
    for n in 0..topology.nodes {
        let dir = node_dir(staging, n);
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
        let _ = std::fs::remove_file(dir.join("LOCK"));
        let _ = std::fs::remove_dir_all(dir.join("tmp"));
    }
    Ok(Built {
        files_downloaded: restored.files_downloaded,
        bytes_downloaded: restored.bytes_downloaded,
        files_to_fetch: 0,
        bytes_to_fetch: 0,
        checks: restored.checks,
    })
}

pub fn print_restore(report: &RestoreReport, json: bool) -> Result<()> {
    if json {
        return print_json(report);
    }
    for c in &report.checks {
        println!(
            "  {:<32} {:>12} rows  checksum {}  {}",
            c.name,
            c.rows,
            c.checksum,
            if c.matches() { "verified" } else { "MISMATCH" }
        );
    }
    println!(
        "restored snapshot {} from region {} into {} ({} nodes x {} slices): {} tables, {} rows, {} bytes in {} files, {:.1} s",
        report.snapshot,
        report.region,
        report.data_dir,
        report.nodes,
        report.slices_per_node,
        report.tables,
        report.rows,
        report.bytes_downloaded,
        report.files_downloaded,
        report.seconds
    );
    if report.lazy {
        println!(
            "lazy: the nodes fetch {} files ({} bytes) when first read and in the background, each checked against its hash; CHECKSUM TABLE compares a table with `snapshot describe`",
            report.files_to_fetch, report.bytes_to_fetch
        );
    }
    println!(
        "start it with:  blueshift dev --data-dir {}",
        report.data_dir
    );
    Ok(())
}

pub struct DrillOpts {
    pub snapshot: Option<String>,
    pub region: Option<String>,
    pub leader: LeaderAddr,
    pub config_file: Option<PathBuf>,
}

/// One table's verification in a drill.
#[derive(Debug, Serialize)]
pub struct DrillTable {
    pub name: String,
    pub rows: u64,
    pub checksum: String,
    pub expected_rows: u64,
    pub expected_checksum: String,
    pub matches: bool,
}

#[derive(Debug, Serialize)]
pub struct DrillReport {
    pub snapshot: String,
    /// Taken by this drill (otherwise `--snapshot`).
    pub fresh: bool,
    pub region: String,
    /// Age of the newest complete snapshot in the region when the drill started.
    pub rpo_seconds: Option<f64>,
    /// Seconds the fresh snapshot took to be complete in the region.
    pub wait_seconds: f64,
    /// Restore of the temporary cluster's folder.
    pub restore_seconds: f64,
    /// From the restore's start to the temporary cluster's first answered query.
    pub rto_seconds: f64,
    pub bytes_transferred: u64,
    pub tables_verified: usize,
    pub tables_mismatched: usize,
    /// For a fresh snapshot: whether the live cluster's own checksums at that commit
    /// matched the record (`None` when the cluster committed more before they were read).
    pub live_verified: Option<bool>,
    pub tables: Vec<DrillTable>,
    pub ok: bool,
}

/// `(table, rows, checksum, commit)` from `CHECKSUM TABLE` on a cluster.
async fn checksums(client: &tokio_postgres::Client) -> Result<Vec<(String, u64, String, u64)>> {
    let mut out = Vec::new();
    for m in client
        .simple_query("CHECKSUM TABLE")
        .await
        .map_err(sql_error)?
    {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            let cell = |i: usize| r.get(i).unwrap_or_default().to_string();
            out.push((
                cell(0),
                cell(1).parse().unwrap_or(0),
                cell(2),
                cell(3).parse().unwrap_or(0),
            ));
        }
    }
    Ok(out)
}

/// A temporary cluster: its `dev` process and folder go when this is dropped.
struct TempCluster {
    child: Option<std::process::Child>,
    dir: PathBuf,
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::Io(format!("no free port: {e}")))
}

/// A DR drill: snapshot (or `--snapshot`), its complete copy in the DR region, a temporary
/// cluster restored from there, every table verified, the temporary cluster removed.
pub async fn dr_drill(config: &Config, opts: &DrillOpts) -> Result<DrillReport> {
    let started_ms = chrono::Utc::now().timestamp_millis();
    let region = opts.region.clone().unwrap_or_else(|| {
        if config.snapshots.copy_to_region.is_empty() {
            config.snapshots.region.clone()
        } else {
            config.snapshots.copy_to_region.clone()
        }
    });
    let dr = location(config, Some(&region))?;
    let rpo_seconds = dr
        .records()
        .await?
        .iter()
        .map(|r| r.created_unix_ms)
        .max()
        .map(|t| (started_ms - t) as f64 / 1000.0);
    let mut live: Option<Vec<(String, u64, String, u64)>> = None;
    let name = match &opts.snapshot {
        Some(n) => n.clone(),
        None => {
            let name = format!("drill-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S-%3f"));
            let (client, _) = connect(config, &opts.leader).await?;
            client
                .batch_execute(&format!(
                    "CREATE SNAPSHOT {} RETENTION 1 DAYS",
                    quote(&name)
                ))
                .await
                .map_err(sql_error)?;
            live = Some(checksums(&client).await?);
            name
        }
    };
    let waited = Instant::now();
    let record = loop {
        if let Some(r) = dr.record(&name).await? {
            break r;
        }
        if opts.snapshot.is_some() {
            return Err(Error::Io(format!(
                "snapshot \"{name}\" is not complete in region {}",
                dr.region_name()
            )));
        }
        // A guard against a copy that never comes, not a measure.
        if waited.elapsed() > Duration::from_secs(3600) {
            return Err(Error::Io(format!(
                "snapshot {name} was not complete in region {} after an hour",
                dr.region_name()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let wait_seconds = waited.elapsed().as_secs_f64();
    let live_verified = live.map(|rows| {
        if rows.iter().any(|r| r.3 != record.commit) {
            return None;
        }
        Some(
            rows.len() == record.tables.len()
                && rows.iter().all(|(n, r, c, _)| {
                    record
                        .table(n)
                        .is_some_and(|t| t.rows == *r && &t.checksum == c)
                }),
        )
    });
    let live_verified = live_verified.flatten();

    // The temporary cluster: its own folder, free ports, and no snapshots of its own.
    let dir = std::env::temp_dir().join(format!(
        "blueshift-drill-{}-{}",
        std::process::id(),
        started_ms
    ));
    let mut temp = TempCluster {
        child: None,
        dir: dir.clone(),
    };
    let restore_started = Instant::now();
    let restored = restore(
        config,
        &RestoreOpts {
            snapshot: name.clone(),
            region: Some(region.clone()),
            location: None,
            data_dir: dir.join("cluster"),
            nodes: None,
            slices_per_node: None,
            lazy: false,
            json: true,
        },
    )
    .await?;
    let restore_seconds = restore_started.elapsed().as_secs_f64();
    let port = free_port()?;
    let exe = std::env::current_exe().map_err(|e| Error::Io(e.to_string()))?;
    let mut cmd = std::process::Command::new(exe);
    if let Some(c) = &opts.config_file {
        cmd.arg("--config").arg(c);
    }
    let child = cmd
        .args(["dev", "--port", &port.to_string(), "--data-dir"])
        .arg(dir.join("cluster"))
        .env("BLUESHIFT_SNAPSHOTS_LOCATION", dir.join("snapshots"))
        .env("BLUESHIFT_SNAPSHOTS_COPY_TO_REGION", "")
        .env("BLUESHIFT_SNAPSHOTS_AUTOMATED", "false")
        .env("BLUESHIFT_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| Error::Io(format!("cannot start the temporary cluster: {e}")))?;
    temp.child = Some(child);
    let addr = LeaderAddr {
        host: Some("127.0.0.1".into()),
        port: Some(port),
        user: opts.leader.user.clone(),
    };
    let client = loop {
        if let Some(c) = temp.child.as_mut()
            && let Ok(Some(status)) = c.try_wait()
        {
            return Err(Error::NotReady(format!(
                "the temporary cluster exited during start-up: {status}"
            )));
        }
        if let Ok((client, _)) = connect(config, &addr).await
            && client.simple_query("SELECT 1").await.is_ok()
        {
            break client;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let rto_seconds = restore_started.elapsed().as_secs_f64();
    let got = checksums(&client).await?;
    drop(client);
    let mut tables = Vec::new();
    for t in &record.tables {
        let found = got.iter().find(|g| g.0 == t.name);
        let (rows, checksum) = found.map_or((0, String::new()), |g| (g.1, g.2.clone()));
        tables.push(DrillTable {
            name: t.name.clone(),
            matches: rows == t.rows && checksum == t.checksum,
            rows,
            checksum,
            expected_rows: t.rows,
            expected_checksum: t.checksum.clone(),
        });
    }
    for g in got.iter().filter(|g| record.table(&g.0).is_none()) {
        tables.push(DrillTable {
            name: g.0.clone(),
            rows: g.1,
            checksum: g.2.clone(),
            expected_rows: 0,
            expected_checksum: String::new(),
            matches: false,
        });
    }
    drop(temp);
    let mismatched = tables.iter().filter(|t| !t.matches).count();
    let report = DrillReport {
        snapshot: name,
        fresh: opts.snapshot.is_none(),
        region: dr.region_name(),
        rpo_seconds,
        wait_seconds,
        restore_seconds,
        rto_seconds,
        bytes_transferred: restored.bytes_downloaded,
        tables_verified: tables.len() - mismatched,
        tables_mismatched: mismatched,
        ok: mismatched == 0 && live_verified != Some(false),
        live_verified,
        tables,
    };
    Ok(report)
}

pub fn print_drill(report: &DrillReport, json: bool) -> Result<()> {
    if json {
        return print_json(report);
    }
    println!(
        "DR drill of snapshot {} ({}) from region {}",
        report.snapshot,
        if report.fresh { "taken now" } else { "given" },
        report.region
    );
    println!(
        "  RPO (newest complete snapshot in the region at start): {}",
        report
            .rpo_seconds
            .map_or("none before this drill".into(), |s| format!("{s:.1} s"))
    );
    println!(
        "  RTO: restore {:.1} s, first answered query {:.1} s",
        report.restore_seconds, report.rto_seconds
    );
    println!("  bytes transferred: {}", report.bytes_transferred);
    println!("{:<32} {:>12} {:>18} result", "table", "rows", "checksum");
    for t in &report.tables {
        println!(
            "{:<32} {:>12} {:>18} {}",
            t.name,
            t.rows,
            t.checksum,
            if t.matches {
                "verified".to_string()
            } else {
                format!(
                    "MISMATCH (snapshot: {} rows, {})",
                    t.expected_rows, t.expected_checksum
                )
            }
        );
    }
    match report.live_verified {
        Some(true) => println!("  live cluster at the snapshot's commit: verified"),
        Some(false) => println!("  live cluster at the snapshot's commit: MISMATCH"),
        None if report.fresh => {
            println!("  live cluster: committed more before it was read; not compared")
        }
        None => {}
    }
    println!(
        "{}: {} tables verified, {} mismatched",
        if report.ok { "PASSED" } else { "FAILED" },
        report.tables_verified,
        report.tables_mismatched
    );
    Ok(())
}
