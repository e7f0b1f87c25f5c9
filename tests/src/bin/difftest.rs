//! The differential SQL tester's long mode, for local soak runs:
//!
//! ```text
//! cargo build --workspace && cargo run -p blueshift-tests --bin difftest -- --queries 5000 --seed 7
//! ```
//!
//! Starts PostgreSQL and Blueshift clusters of each shape on loopback, runs the seed's
//! queries on each, prints the figures and writes each shrunk mismatch as an `.slt` file.
//! Exits with 1 when any query was answered differently.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use blueshift_tests::TestCluster;
use blueshift_tests::difftest::{self, Engine, Options, Report, postgres::Postgres};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Random SQL on Blueshift and PostgreSQL, answers compared")]
struct Args {
    /// Queries per seed and cluster shape.
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many seeds, from --seed on (each rotates the tables' DISTSTYLEs).
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// Cluster shapes, nodes x slices per node.
    #[arg(long, value_delimiter = ',', default_value = "1x1,2x2")]
    shapes: Vec<String>,
    /// Where shrunk mismatches are written (default: target/difftest).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print every query's outcome.
    #[arg(long)]
    verbose: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let pg = Postgres::start()
        .await
        .unwrap_or_else(|e| panic!("reference: {e}"));
    let out = args.out.clone().unwrap_or_else(difftest::default_out);
    let mut total = Report {
        label: "all".into(),
        ..Default::default()
    };
    for shape in &args.shapes {
        let (nodes, slices) = shape
            .split_once('x')
            .and_then(|(n, s)| Some((n.parse().ok()?, s.parse().ok()?)))
            .unwrap_or_else(|| panic!("a shape reads NODESxSLICES, not {shape}"));
        let cluster = TestCluster::start(nodes, slices).await;
        let mut bs = Engine::connect("blueshift", cluster.conn_str()).await;
        let mut reference = Engine::connect("postgres", pg.conn_str()).await;
        for seed in args.seed..args.seed + args.seeds {
            let opts = Options {
                seed,
                queries: args.queries,
                out: Some(out.clone()),
                verbose: args.verbose,
                plant: None,
            };
            let report = difftest::run_seed(&mut bs, &mut reference, &opts, shape).await;
            print!("{}", report.summary());
            total.merge(report);
        }
    }
    print!("{}", total.summary());
    if !total.mismatches.is_empty() {
        std::process::exit(1);
    }
}
