//! Compute-node errors.

use blueshift_storage::Code;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("compute node {node} at {addr} is unavailable: {reason}")]
    NodeUnavailable {
        node: u32,
        addr: String,
        reason: String,
    },
    #[error("compute node {node} did not answer within {secs} s")]
    NodeTimeout { node: u32, secs: u64 },
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error(transparent)]
    Storage(#[from] blueshift_storage::Error),
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    #[error(transparent)]
    Flight(#[from] arrow_flight::error::FlightError),
    #[error("{0}")]
    Remote(String),
    #[error(transparent)]
    Load(#[from] blueshift_load::Error),
}

impl Error {
    pub fn code(&self) -> Code {
        match self {
            Error::NodeUnavailable { .. } | Error::NodeTimeout { .. } => Code::NodeUnavailable,
            Error::Storage(e) => e.code(),
            Error::Remote(m) => Code::extract(m).0.unwrap_or(Code::Internal),
            Error::DataFusion(e) => Code::of_datafusion(e),
            Error::Arrow(e) => Code::of_message(&e.to_string()),
            Error::Load(e) => e.code(),
            _ => Code::Internal,
        }
    }

    /// The message with its code tag in front, so the code survives wrapping.
    pub fn tagged(&self) -> String {
        let msg = self.to_string();
        if Code::extract(&msg).0.is_some() {
            msg
        } else {
            format!("{}{msg}", self.code().tag())
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        tonic::Status::internal(e.tagged())
    }
}

impl From<Error> for datafusion::error::DataFusionError {
    fn from(e: Error) -> Self {
        match e {
            Error::DataFusion(e) => e,
            other => datafusion::error::DataFusionError::Execution(other.tagged()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
