//! Configuration: one TOML file (`blueshift.toml`) with a section per role; each key can be
//! overridden by the environment variable `BLUESHIFT_<SECTION>_<KEY>`, and then by the
//! subcommand's flags. Every key has a default. Each section's struct lives in the crate of
//! the role it configures; this file only puts them together.

use std::collections::BTreeMap;
use std::path::Path;

use blueshift_compute::ComputeConfig;
use blueshift_leader::LeaderConfig;
use blueshift_snapshots::SnapshotConfig;
use blueshift_storage::{RegionConfig, StorageConfig, StoreConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub leader: LeaderConfig,
    pub compute: ComputeConfig,
    pub storage: StorageConfig,
    pub snapshots: SnapshotConfig,
    /// `[cluster]`: what every process of the cluster shares (its secret).
    pub cluster: blueshift_compute::secret::ClusterConfig,
    /// `[regions.<name>]`: S3-compatible endpoints and keys that COPY/UNLOAD `REGION 'name'`
    /// (or `storage.default_region`) selects.
    pub regions: BTreeMap<String, RegionConfig>,
}

impl Config {
    /// How `s3://` URLs resolve; the same on the leader and every compute node.
    pub fn store_config(&self) -> StoreConfig {
        self.storage.store_config(&self.regions)
    }
}

impl Config {
    /// Defaults, then the TOML file (if given), then `BLUESHIFT_*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Config> {
        let mut value = toml::Value::try_from(Config::default())
            .map_err(|e| Error::Config(format!("config: {e}")))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Config(format!("cannot read config {}: {e}", path.display()))
            })?;
            let file_value: toml::Value = toml::from_str(&text)
                .map_err(|e| Error::Config(format!("config {}: {e}", path.display())))?;
            merge(&mut value, file_value);
        }
        apply_env(&mut value)?;
        value
            .try_into()
            .map_err(|e| Error::Config(format!("config: {e}")))
    }
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn apply_env(value: &mut toml::Value) -> Result<()> {
    let toml::Value::Table(sections) = value else {
        return Ok(());
    };
    for (section, keys) in sections.iter_mut() {
        let toml::Value::Table(keys) = keys else {
            continue;
        };
        for (key, current) in keys.iter_mut() {
            let var = format!(
                "BLUESHIFT_{}_{}",
                section.to_uppercase(),
                key.to_uppercase()
            );
            let Ok(raw) = std::env::var(&var) else {
                continue;
            };
            *current = match current {
                toml::Value::String(_) => toml::Value::String(raw),
                toml::Value::Array(_) => toml::Value::Array(
                    raw.split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| toml::Value::String(s.trim().to_string()))
                        .collect(),
                ),
                _ => toml::from_str::<toml::Table>(&format!("v = {raw}"))
                    .ok()
                    .and_then(|mut t| t.remove("v"))
                    .ok_or_else(|| Error::Config(format!("{var}: cannot read {raw:?}")))?,
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_override_defaults() {
        let dir = std::env::temp_dir().join(format!("bs-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("blueshift.toml");
        std::fs::write(
            &file,
            "[leader]\nport = 6543\ncompute = [\"a:1\", \"b:2\"]\n[storage]\nslices_per_node = 3\n",
        )
        .unwrap();
        let c = Config::load(Some(&file)).unwrap();
        assert_eq!(c.leader.port, 6543);
        assert_eq!(c.leader.compute, vec!["a:1", "b:2"]);
        assert_eq!(c.storage.slices_per_node, 3);
        assert_eq!(c.leader.node_timeout_secs, 30);
        std::fs::write(&file, "[leader]\nport = \"not a number\"\n").unwrap();
        assert!(Config::load(Some(&file)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
