//! Storage errors: what happened, with the table, slice and block involved.

use crate::code::Code;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("block {block} of slice {slice} is missing or unreadable: {reason}")]
    BadBlock {
        slice: u32,
        block: String,
        reason: String,
    },
    #[error("corrupt commit log {path}: {reason}")]
    CorruptLog { path: String, reason: String },
    #[error("parquet error: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("serialization error: {0}")]
    Json(#[from] serde_json::Error),
    #[error("value too long for type character varying({limit}) in column \"{column}\"")]
    ValueTooLong { column: String, limit: u32 },
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_string(),
            source,
        }
    }

    /// The protocol-neutral code of this error.
    pub fn code(&self) -> Code {
        match self {
            Error::ValueTooLong { .. } => Code::StringTooLong,
            Error::Invalid(_) => Code::InvalidInput,
            Error::Io { .. } | Error::BadBlock { .. } | Error::CorruptLog { .. } => Code::Storage,
            _ => Code::Internal,
        }
    }
}

impl From<Error> for datafusion::error::DataFusionError {
    fn from(e: Error) -> Self {
        match e {
            Error::DataFusion(e) => e,
            Error::ValueTooLong { .. } => datafusion::error::DataFusionError::Execution(format!(
                "{}{}",
                Code::StringTooLong.tag(),
                e
            )),
            other => datafusion::error::DataFusionError::External(Box::new(other)),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
