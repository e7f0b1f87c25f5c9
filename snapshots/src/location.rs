//! One snapshot location (a bucket prefix or a folder) and the objects in it; see
//! [`crate::format`] for the layout.

use std::sync::Arc;

use blueshift_storage::{Access, Error, Result, Stores};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::format::{FileRef, Manifest, ObjectRef, Pending, Record};

#[derive(Debug, Clone)]
pub struct Location {
    /// The location's URL, as configured.
    pub url: String,
    /// The `[regions.<name>]` it is reached through (empty: the default).
    pub region: String,
    store: Arc<dyn ObjectStore>,
    base: Path,
}

impl Location {
    pub fn open(stores: &Stores, url: &str, region: &str) -> Result<Location> {
        let access = Access {
            region: Some(region.to_string()).filter(|r| !r.is_empty()),
            ..Access::default()
        };
        let located = stores.locate(url, &access)?;
        Ok(Location {
            url: url.trim_end_matches('/').to_string(),
            region: region.to_string(),
            store: located.store,
            base: located.path,
        })
    }

    /// The region's name as listings show it.
    pub fn region_name(&self) -> String {
        if self.region.is_empty() {
            "default".into()
        } else {
            self.region.clone()
        }
    }

    fn path(&self, key: &str) -> Path {
        key.split('/')
            .fold(self.base.clone(), |p, part| p.clone().join(part))
    }

    /// The URL of an object, for messages.
    pub fn url_of(&self, key: &str) -> String {
        format!("{}/{key}", self.url)
    }

    fn err(&self, key: &str, e: object_store::Error) -> Error {
        Error::object_store(&self.url_of(key), e)
    }

    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.store.head(&self.path(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.err(key, e)),
        }
    }

    /// Writes an object whole (a single PUT, or a local file renamed into place).
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        self.store
            .put(&self.path(key), PutPayload::from(bytes))
            .await
            .map_err(|e| self.err(key, e))?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Bytes> {
        let got = self
            .store
            .get(&self.path(key))
            .await
            .map_err(|e| self.err(key, e))?;
        got.bytes().await.map_err(|e| self.err(key, e))
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(key, e)),
        }
    }

    /// Keys (relative to the location) and sizes of the objects under a folder of it.
    pub async fn list(&self, folder: &str) -> Result<Vec<(String, u64)>> {
        let prefix = self.path(folder);
        let base = self.base.as_ref().to_string();
        let listed: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.err(folder, e))?;
        Ok(listed
            .into_iter()
            .map(|m| {
                let full = m.location.as_ref();
                let key = full
                    .strip_prefix(&base)
                    .unwrap_or(full)
                    .trim_start_matches('/')
                    .to_string();
                (key, m.size)
            })
            .collect())
    }

    /// Writes a JSON object and returns its checksum.
    pub async fn put_json<T: Serialize>(&self, key: &str, value: &T) -> Result<ObjectRef> {
        let bytes = serde_json::to_vec_pretty(value)?;
        let r = ObjectRef {
            key: key.to_string(),
            blake3: blake3::hash(&bytes).to_hex().to_string(),
            bytes: bytes.len() as u64,
        };
        self.put(key, Bytes::from(bytes)).await?;
        Ok(r)
    }

    async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<T> {
        let bytes = self.get(key).await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::CorruptObject {
            url: self.url_of(key),
            reason: e.to_string(),
        })
    }

    /// A file, checked against the hash its name carries.
    pub async fn get_file(&self, file: &FileRef) -> Result<Bytes> {
        let key = file.key();
        let bytes = self.get(&key).await?;
        verify(&self.url_of(&key), &bytes, &file.id)?;
        Ok(bytes)
    }

    pub async fn record(&self, name: &str) -> Result<Option<Record>> {
        let key = record_key(name);
        match self.get_json(&key).await {
            Ok(r) => Ok(Some(r)),
            Err(Error::ObjectNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every complete snapshot here, oldest first.
    pub async fn records(&self) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for (key, _) in self.list("snapshots").await? {
            if let Some(name) = key
                .strip_prefix("snapshots/")
                .and_then(|k| k.strip_suffix(".json"))
                && let Some(r) = self.record(name).await?
            {
                out.push(r);
            }
        }
        out.sort_by(|a, b| (a.created_unix_ms, &a.name).cmp(&(b.created_unix_ms, &b.name)));
        Ok(out)
    }

    /// A snapshot's manifest, checked against the hash its record holds.
    pub async fn manifest(&self, record: &Record) -> Result<Manifest> {
        let key = &record.manifest.key;
        let bytes = self.get(key).await?;
        verify(&self.url_of(key), &bytes, &record.manifest.blake3)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::CorruptObject {
            url: self.url_of(key),
            reason: e.to_string(),
        })
    }

    pub async fn pendings(&self) -> Result<Vec<Pending>> {
        let mut out = Vec::new();
        for (key, _) in self.list("pending").await? {
            match self.get_json::<Pending>(&key).await {
                Ok(p) => out.push(p),
                // Deleted since the listing: that snapshot finished or gave up.
                Err(Error::ObjectNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

pub fn record_key(name: &str) -> String {
    format!("snapshots/{name}.json")
}

pub fn manifest_key(name: &str) -> String {
    format!("manifests/{name}.json")
}

pub fn pending_key(name: &str) -> String {
    format!("pending/{name}.json")
}

/// Fails unless `bytes` hash to `expected` (hex BLAKE3).
pub fn verify(url: &str, bytes: &[u8], expected: &str) -> Result<()> {
    let got = blake3::hash(bytes).to_hex();
    if got.as_str() == expected {
        Ok(())
    } else {
        Err(Error::CorruptObject {
            url: url.to_string(),
            reason: format!("its BLAKE3 hash is {got}, the snapshot recorded {expected}"),
        })
    }
}

/// Every snapshot complete in any of `locations`, with the regions holding it, oldest first.
pub async fn list_all(locations: &[&Location]) -> Result<Vec<(Record, Vec<String>)>> {
    let mut listed: Vec<(Record, Vec<String>)> = Vec::new();
    for loc in locations {
        for r in loc.records().await? {
            match listed.iter_mut().find(|(l, _)| l.name == r.name) {
                Some((_, regions)) => regions.push(loc.region_name()),
                None => listed.push((r, vec![loc.region_name()])),
            }
        }
    }
    listed.sort_by(|a, b| (a.0.created_unix_ms, &a.0.name).cmp(&(b.0.created_unix_ms, &b.0.name)));
    Ok(listed)
}
