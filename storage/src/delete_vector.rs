//! Delete vectors: which row positions of a block are deleted. A bitmap, zstd-compressed,
//! stored beside the block and named by its content hash; a newer DELETE writes a new
//! vector that includes the old one, so files are never modified in place.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteVector {
    bits: Vec<u64>,
    rows: u64,
}

impl DeleteVector {
    pub fn new(rows: u64) -> Self {
        DeleteVector {
            bits: vec![0; rows.div_ceil(64) as usize],
            rows,
        }
    }

    pub fn insert(&mut self, row: u64) -> Result<()> {
        if row >= self.rows {
            return Err(Error::Invalid(format!(
                "row {row} is past the end of a {}-row block",
                self.rows
            )));
        }
        self.bits[(row / 64) as usize] |= 1 << (row % 64);
        Ok(())
    }

    pub fn contains(&self, row: u64) -> bool {
        row < self.rows && self.bits[(row / 64) as usize] & (1 << (row % 64)) != 0
    }

    pub fn count(&self) -> u64 {
        self.bits.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut raw = Vec::with_capacity(8 + self.bits.len() * 8);
        raw.extend_from_slice(&self.rows.to_le_bytes());
        for w in &self.bits {
            raw.extend_from_slice(&w.to_le_bytes());
        }
        zstd::encode_all(raw.as_slice(), 3).map_err(|e| Error::io("delete vector", e))
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let raw = zstd::decode_all(bytes).map_err(|e| Error::io("delete vector", e))?;
        if raw.len() < 8 || (raw.len() - 8) % 8 != 0 {
            return Err(Error::Invalid("malformed delete vector".into()));
        }
        let rows = u64::from_le_bytes(raw[..8].try_into().expect("8 bytes"));
        let bits: Vec<u64> = raw[8..]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        if bits.len() as u64 != rows.div_ceil(64) {
            return Err(Error::Invalid(
                "delete vector length does not match its rows".into(),
            ));
        }
        Ok(DeleteVector { bits, rows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_counts() {
        let mut dv = DeleteVector::new(130);
        for r in [0, 63, 64, 129] {
            dv.insert(r).unwrap();
        }
        assert!(dv.insert(130).is_err());
        let back = DeleteVector::decode(&dv.encode().unwrap()).unwrap();
        assert_eq!(back, dv);
        assert_eq!(back.count(), 4);
        assert!(back.contains(64) && !back.contains(65));
    }
}
