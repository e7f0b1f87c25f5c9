//! TPC-H at SF 0.1: all 22 queries return DuckDB's answers (`tests/tpch/answers`, see
//! `tests/tpch/README.md`) on clusters of 1×1, 2×2 and 3×2 slices, with every table
//! DISTSTYLE EVEN and with a Redshift-style tuned schema (DISTKEYs on the join keys, the
//! small tables DISTSTYLE ALL, date sort keys). The data is dbgen's, from this repository's
//! `tpch-gen` program.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use blueshift_tests::{TestCluster, blueshift_bin, rows};

const SF: &str = "0.1";

const TABLES: [&str; 8] = [
    "nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem",
];

fn tpch_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tpch")
}

/// The CSV files, generated once per build folder (and kept: they never change).
fn data() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let bin = blueshift_bin();
        let out = bin.parent().unwrap().join(format!("tpch-sf{SF}"));
        let done = out.join("done");
        if !done.exists() {
            std::fs::create_dir_all(&out).unwrap();
            let status = std::process::Command::new(bin.with_file_name("tpch-gen"))
                .args(["--sf", SF, "--out"])
                .arg(&out)
                .status()
                .unwrap();
            assert!(status.success(), "tpch-gen failed");
            std::fs::write(&done, b"").unwrap();
        }
        out
    })
}

fn statements(sql: &str) -> Vec<String> {
    sql.split(';')
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|s| !s.trim().is_empty())
        .collect()
}

/// Creates `schema` with the tables of `ddl` and loads them with COPY.
async fn load(c: &tokio_postgres::Client, schema: &str, ddl: &str) {
    c.batch_execute(&format!(
        "CREATE SCHEMA {schema}; SET search_path TO {schema}"
    ))
    .await
    .unwrap();
    for stmt in statements(ddl) {
        c.batch_execute(&stmt)
            .await
            .unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
    for t in TABLES {
        let file = data().join("csv").join(format!("{t}.csv"));
        let sql = format!("COPY {t} FROM '{}' CSV IGNOREHEADER 1", file.display());
        c.batch_execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// Whether two answer cells agree: numbers within a relative 1e-5 (DuckDB averages in
/// doubles, we in decimals), everything else exactly.
fn same_cell(ours: &str, theirs: &str) -> bool {
    if ours == theirs {
        return true;
    }
    match (ours.parse::<f64>(), theirs.parse::<f64>()) {
        (Ok(a), Ok(b)) => (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1.0),
        _ => false,
    }
}

/// The differences between our rows and the answer file's (header line first).
fn compare(ours: &[Vec<Option<String>>], answer: &str) -> Option<String> {
    let mut lines = answer.lines();
    lines.next();
    let theirs: Vec<Vec<String>> = lines.map(split_csv_line).collect();
    if ours.len() != theirs.len() {
        return Some(format!("{} rows, expected {}", ours.len(), theirs.len()));
    }
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        let a: Vec<String> = a.iter().map(|c| c.clone().unwrap_or_default()).collect();
        if a.len() != b.len() || !a.iter().zip(b).all(|(x, y)| same_cell(x, y)) {
            return Some(format!("row {i}: {a:?}, expected {b:?}"));
        }
    }
    None
}

/// One line of a CSV file written by Python's csv module (fields quoted when they hold
/// a comma or a quote; a quote inside doubled).
fn split_csv_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            other => field.push(other),
        }
    }
    out.push(field);
    out
}

/// Runs the 22 queries in `schema`; returns the mismatches.
async fn run_queries(c: &tokio_postgres::Client, schema: &str) -> Vec<String> {
    c.batch_execute(&format!("SET search_path TO {schema}"))
        .await
        .unwrap();
    let mut bad = Vec::new();
    for q in 1..=22 {
        let sql = std::fs::read_to_string(tpch_dir().join(format!("queries/q{q:02}.sql"))).unwrap();
        let answer =
            std::fs::read_to_string(tpch_dir().join(format!("answers/q{q:02}.csv"))).unwrap();
        match blueshift_tests::try_rows(c, &sql).await {
            Ok(ours) => {
                if let Some(diff) = compare(&ours, &answer) {
                    bad.push(format!("{schema} q{q:02}: {diff}"));
                }
            }
            Err(e) => bad.push(format!("{schema} q{q:02}: error {e:?}")),
        }
    }
    bad
}

/// The staged EXPLAIN of every query on the tuned schema, as checked-in snapshot text
/// (`snapshots/`): a change of placement shows in review. `INSTA_UPDATE=always` rewrites
/// them.
async fn check_plans(c: &tokio_postgres::Client) {
    c.batch_execute("SET search_path TO tuned").await.unwrap();
    for q in 1..=22 {
        let sql = std::fs::read_to_string(tpch_dir().join(format!("queries/q{q:02}.sql"))).unwrap();
        let plan: Vec<String> = rows(c, &format!("EXPLAIN {}", sql.trim().trim_end_matches(';')))
            .await
            .into_iter()
            .map(|r| r[0].clone().unwrap_or_default())
            .collect();
        insta::assert_snapshot!(format!("tuned_2x2_q{q:02}"), plan.join("\n"));
    }
}

async fn tpch_at(nodes: u32, slices_per_node: u32) {
    let cluster = TestCluster::start(nodes, slices_per_node).await;
    let c = cluster.client().await;
    let even = std::fs::read_to_string(tpch_dir().join("schema_even.sql")).unwrap();
    let tuned = std::fs::read_to_string(tpch_dir().join("schema_tuned.sql")).unwrap();
    load(&c, "even", &even).await;
    load(&c, "tuned", &tuned).await;
    let count = rows(&c, "SELECT count(*) FROM tuned.lineitem").await;
    assert_eq!(count[0][0].as_deref(), Some("600572"));
    let mut bad = run_queries(&c, "even").await;
    bad.extend(run_queries(&c, "tuned").await);
    if (nodes, slices_per_node) == (2, 2) {
        check_plans(&c).await;
        // The merge joins a query runs with when a hash join cannot fit its memory.
        c.batch_execute("SET enable_hashjoin = off").await.unwrap();
        let plan = rows(
            &c,
            "EXPLAIN SELECT count(*) FROM tuned.orders o JOIN tuned.customer c \
             ON o.o_custkey = c.c_custkey",
        )
        .await;
        assert!(
            plan.iter()
                .any(|r| r[0].as_deref().is_some_and(|l| l.contains("Merge Join"))),
            "{plan:?}"
        );
        bad.extend(
            run_queries(&c, "tuned")
                .await
                .into_iter()
                .map(|b| format!("merge joins: {b}")),
        );
        c.batch_execute("SET enable_hashjoin = on").await.unwrap();
    }
    assert!(
        bad.is_empty(),
        "{nodes}x{slices_per_node}: {} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[tokio::test]
async fn tpch_answers_match_on_one_slice() {
    tpch_at(1, 1).await;
}

#[tokio::test]
async fn tpch_answers_match_on_two_nodes_of_two_slices() {
    tpch_at(2, 2).await;
}

#[tokio::test]
async fn tpch_answers_match_on_three_nodes_of_two_slices() {
    tpch_at(3, 2).await;
}

#[test]
fn comparison_tolerates_rounding_only() {
    assert!(same_cell("0.050000", "0.05"));
    assert!(same_cell("38.2736", "38.27360000001"));
    assert!(!same_cell("38.27", "38.28"));
    assert!(!same_cell("BRAZIL", "FRANCE"));
    let answer = "a,b\n1,\"x, y\"\n";
    assert!(compare(&[vec![Some("1".into()), Some("x, y".into())]], answer).is_none());
    assert!(compare(&[vec![Some("2".into()), Some("x, y".into())]], answer).is_some());
    assert!(compare(&[], answer).is_some());
}
