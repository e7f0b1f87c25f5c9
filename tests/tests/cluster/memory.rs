//! A node's memory limit (`[compute] memory_limit`): sorts and aggregates that outgrow it
//! spill to disk and still answer right; a hash join that cannot fit runs again as a merge
//! join, whose sorts spill; what cannot spill at all (one aggregate's state) fails with
//! SQLSTATE 53200 naming the node, and the node serves on.

use std::time::SystemTime;

use blueshift_tests::{TestCluster, error_of, rows};

/// When each node's spill folder last changed (a spill file made or removed in it).
fn spill_stamps(cluster: &TestCluster) -> Vec<SystemTime> {
    (0..cluster.nodes)
        .map(|node| {
            let spill = cluster.dir.join(format!("compute-{node}")).join("spill");
            let dir = std::fs::read_dir(&spill)
                .unwrap()
                .flatten()
                .find(|e| e.path().is_dir())
                .unwrap_or_else(|| panic!("no spill folder in {}", spill.display()));
            dir.metadata().unwrap().modified().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn sorts_aggregates_and_joins_spill_and_what_cannot_fails_with_53200() {
    let cluster = TestCluster::start_config(
        2,
        2,
        &[],
        &[],
        Some("[compute]\nmemory_limit = \"32MiB\"\n"),
    )
    .await;
    let c = cluster.client().await;
    // About 80 MB of rows in memory per node: well past each node's 32 MiB.
    let n = 1_500_000i64;
    c.batch_execute(&format!(
        "CREATE TABLE w (id BIGINT, pad VARCHAR(64)) DISTSTYLE EVEN;
         INSERT INTO w SELECT value, lpad(value::text, 40, 'x') FROM generate_series(1, {n});"
    ))
    .await
    .unwrap();

    // ORDER BY without LIMIT: every slice sorts its rows (spilling), the leader merges.
    let before = spill_stamps(&cluster);
    let got: Vec<i64> = c
        .query("SELECT id FROM w ORDER BY pad", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // 'x' sorts after the digits: longer numbers (fewer x) first, then by value.
    let mut expected: Vec<i64> = (1..=n).collect();
    expected.sort_by_key(|i| (std::cmp::Reverse(i.to_string().len()), *i));
    assert!(got == expected, "ORDER BY under the limit is out of order");
    let after = spill_stamps(&cluster);
    for (node, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(a > b, "compute node {node} did not spill");
    }

    // 1.5 million groups: the final aggregates on the slices spill as well.
    assert_eq!(
        rows(
            &c,
            "SELECT count(*), sum(c) FROM (SELECT pad, count(*) AS c FROM w GROUP BY pad) t"
        )
        .await[0],
        vec![Some(n.to_string()), Some(n.to_string())]
    );

    // A hash join's build side stays in memory and cannot hold these rows: the leader
    // plans the query again with merge joins, whose per-slice sorts spill.
    let before = spill_stamps(&cluster);
    assert_eq!(
        rows(
            &c,
            "SELECT count(*), sum(a.id - b.id) FROM w a JOIN w b ON a.pad = b.pad"
        )
        .await[0],
        vec![Some(n.to_string()), Some("0".into())]
    );
    let after = spill_stamps(&cluster);
    for (node, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(a > b, "compute node {node}'s join did not spill");
    }
    // One aggregate's state cannot spill: an array of every row per slice cannot fit.
    let (code, message, _) = error_of(
        &c,
        "SELECT cardinality(array_agg(pad || pad || pad)) FROM w",
    )
    .await;
    assert_eq!(code, "53200", "{message}");
    assert!(
        message.starts_with("compute node ") && message.contains("memory_limit of 32 MiB"),
        "{message}"
    );
    // The nodes serve on, and a join that fits still runs.
    assert_eq!(
        rows(
            &c,
            "SELECT count(*) FROM w a JOIN w b ON a.id = b.id WHERE a.id <= 1000 AND b.id <= 1000"
        )
        .await[0],
        vec![Some("1000".into())]
    );
}
