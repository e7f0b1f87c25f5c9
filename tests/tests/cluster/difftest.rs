//! The differential SQL tester (`blueshift_tests::difftest`) on the seeds CI checks: random
//! queries on clusters of 1 × 1, 2 × 2 and 3 × 2 slices against PostgreSQL over the same rows. Each seed
//! gives the three tables a different DISTSTYLE, so over the four seeds every table is
//! EVEN, KEY, ALL and AUTO once. Any query the two answer differently fails the test, with
//! its shrunk reproduction (also written under `target/difftest/`).

use blueshift_tests::TestCluster;
use blueshift_tests::difftest::{self, Engine, Options, Report, postgres::Postgres};

const SEEDS: [u64; 4] = [1, 2, 3, 4];
const QUERIES: usize = 150;

#[tokio::test(flavor = "multi_thread")]
async fn random_queries_answer_as_postgresql_does() {
    let pg = Postgres::start()
        .await
        .unwrap_or_else(|e| panic!("the reference engine: {e}"));
    let mut total = Report {
        label: format!("CI seeds {SEEDS:?}, {QUERIES} queries each, 1x1, 2x2 and 3x2"),
        ..Default::default()
    };
    for (nodes, slices) in [(1, 1), (2, 2), (3, 2)] {
        let cluster = TestCluster::start(nodes, slices).await;
        let mut bs = Engine::connect("blueshift", cluster.conn_str()).await;
        let mut reference = Engine::connect("postgres", pg.conn_str()).await;
        for seed in SEEDS {
            let opts = Options {
                seed,
                queries: QUERIES,
                out: Some(difftest::default_out()),
                verbose: false,
                plant: None,
            };
            let label = format!("{nodes}x{slices}");
            let report = difftest::run_seed(&mut bs, &mut reference, &opts, &label).await;
            print!("{}", report.summary());
            total.merge(report);
        }
    }
    let summary = total.summary();
    println!("{summary}");
    // The figures (and Blueshift's errors by message) stay readable after a passing run.
    let out = difftest::default_out();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("summary.txt"), &summary).unwrap();
    let records: Vec<&str> = total.mismatches.iter().map(|m| m.record.as_str()).collect();
    assert!(
        total.mismatches.is_empty(),
        "{summary}\n{}",
        records.join("\n----------------\n")
    );
    // The comparison is real only if most queries get through to it: a generator that
    // strays outside the SQL PostgreSQL takes, or SQL Blueshift refuses wholesale, fails.
    assert!(
        total.matched * 10 >= total.counted() * 8,
        "too few queries compared: {summary}"
    );
}

/// The tester itself: with one row missing on the reference only, it must report
/// mismatches, and shrink each to a smaller query with a record.
#[tokio::test(flavor = "multi_thread")]
async fn a_planted_difference_is_found_and_shrunk() {
    let pg = Postgres::start()
        .await
        .unwrap_or_else(|e| panic!("the reference engine: {e}"));
    let cluster = TestCluster::start(1, 1).await;
    let mut bs = Engine::connect("blueshift", cluster.conn_str()).await;
    let mut reference = Engine::connect("postgres", pg.conn_str()).await;
    let out = tempfile::tempdir().unwrap();
    let opts = Options {
        seed: 1,
        queries: 40,
        out: Some(out.path().to_path_buf()),
        verbose: false,
        plant: Some("DELETE FROM t1 WHERE k IN (0, 1, 2)".into()),
    };
    let report = difftest::run_seed(&mut bs, &mut reference, &opts, "planted").await;
    assert!(!report.mismatches.is_empty(), "{}", report.summary());
    for m in &report.mismatches {
        assert!(m.shrunk.len() <= m.sql.len(), "{m:?}");
        let file = m.file.as_ref().expect("record written");
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.contains("\nquery "), "{text}");
        assert!(text.contains(&m.shrunk), "{text}");
    }
}
