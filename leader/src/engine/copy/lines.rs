//! Line accounting: a file read as several ranges reports lines per range; the rejects
//! of every range are numbered from the start of the file.

use std::collections::{BTreeMap, HashSet};

use blueshift_load::{LoadTask, Reject};
use object_store::ObjectStore;

use crate::engine::Engine;
use crate::engine::copy::sql::CopyStatement;
use crate::error::Result;

impl Engine {
    /// For rejects in a range whose earlier ranges did not all report their line counts
    /// (a load stopped by MAXERROR or an error), the lines before the range, counted in
    /// the file itself.
    pub(crate) async fn exact_offsets(
        &self,
        stmt: &CopyStatement,
        tasks: &[LoadTask],
        lines: &BTreeMap<usize, u64>,
        rejects: &[Reject],
    ) -> Result<BTreeMap<usize, u64>> {
        let mut exact = BTreeMap::new();
        for r in rejects {
            let task = &tasks[r.task];
            let Some((start, _)) = task.range else {
                continue;
            };
            let earlier_unknown = tasks.iter().any(|t| {
                t.url == task.url
                    && t.range.is_some_and(|(s, _)| s < start)
                    && !lines.contains_key(&t.id)
            });
            if start == 0 || !earlier_unknown || exact.contains_key(&task.id) {
                continue;
            }
            // The range's first line follows the first newline at or after start - 1.
            let located = self.stores.locate(&task.url, &stmt.access)?;
            let mut bytes = located
                .store
                .get_opts(
                    &located.path,
                    object_store::GetOptions {
                        range: Some((0..start - 1).into()),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| blueshift_load::Error::store(&task.url, e))?
                .into_stream();
            let mut newlines = 0u64;
            while let Some(chunk) = futures::StreamExt::next(&mut bytes).await {
                let chunk = chunk.map_err(|e| blueshift_load::Error::store(&task.url, e))?;
                newlines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            }
            exact.insert(task.id, newlines + 1);
        }
        Ok(exact)
    }
}

/// Lines of a file read as several ranges are numbered from the file's start: a range's
/// offset is the lines of the ranges before it, or, where one of those stopped early (a
/// load that failed), the exact count in `exact`.
pub(crate) fn number_lines(
    tasks: &[LoadTask],
    lines: &BTreeMap<usize, u64>,
    exact: &BTreeMap<usize, u64>,
    rejects: &mut [Reject],
) {
    let mut offset = vec![0u64; tasks.len()];
    let mut by_file: BTreeMap<&str, Vec<&LoadTask>> = BTreeMap::new();
    for t in tasks.iter().filter(|t| t.range.is_some()) {
        by_file.entry(t.url.as_str()).or_default().push(t);
    }
    for ranges in by_file.values_mut() {
        ranges.sort_by_key(|t| t.range.map(|r| r.0));
        let mut before = 0;
        for t in ranges.iter() {
            offset[t.id] = before;
            before += lines.get(&t.id).copied().unwrap_or(0);
        }
    }
    let split: HashSet<usize> = tasks
        .iter()
        .filter(|t| t.range.is_some())
        .map(|t| t.id)
        .collect();
    for (&task, &lines_before) in exact {
        offset[task] = lines_before;
    }
    for r in rejects.iter_mut() {
        if split.contains(&r.task) {
            r.line += offset[r.task];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_ranges_number_lines_from_the_file_start() {
        let task = |id, range| LoadTask {
            id,
            url: "/f.csv".into(),
            size: 300,
            range: Some(range),
            row_groups: None,
            first_of_file: id == 0,
        };
        let tasks = vec![task(0, (0, 100)), task(1, (100, 200)), task(2, (200, 300))];
        let lines = BTreeMap::from([(0, 10), (1, 12), (2, 9)]);
        let reject = |task, line| Reject {
            file: "/f.csv".into(),
            line,
            task,
            column: String::new(),
            column_type: String::new(),
            raw_value: String::new(),
            code: 0,
            reason: String::new(),
        };
        let mut rejects = vec![reject(0, 3), reject(2, 1), reject(1, 12)];
        number_lines(&tasks, &lines, &BTreeMap::new(), &mut rejects);
        let got: Vec<u64> = rejects.iter().map(|r| r.line).collect();
        assert_eq!(got, vec![3, 23, 22]);
    }
}
