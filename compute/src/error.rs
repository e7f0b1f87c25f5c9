//! Compute-node errors, and how they cross the wire: a node's error becomes a gRPC status
//! whose details carry the protocol-neutral [`Code`] (an [`ErrorDetails`] message), and the
//! leader's client turns such a status back into [`Error::Remote`] with that code.

use blueshift_storage::{Code, CodedError};
use prost::Message;

use crate::protocol::ErrorDetails;

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
    #[error("cluster is not ready: {0}")]
    NotReady(String),
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
    /// An error another process reported, with the code it reported.
    #[error("{message}")]
    Remote { code: Code, message: String },
    #[error(transparent)]
    Load(#[from] blueshift_load::Error),
}

impl Error {
    pub fn code(&self) -> Code {
        match self {
            Error::NodeUnavailable { .. } | Error::NodeTimeout { .. } | Error::NotReady(_) => {
                Code::NodeUnavailable
            }
            Error::Storage(e) => e.code(),
            Error::Remote { code, .. } => *code,
            Error::DataFusion(e) => Code::of_datafusion(e),
            Error::Arrow(e) => Code::of_arrow(e),
            Error::Load(e) => e.code(),
            Error::BadRequest(_) | Error::Flight(_) => Code::Internal,
        }
    }

    /// The message a user reads (DataFusion's wrapping removed).
    pub fn message(&self) -> String {
        match self {
            Error::DataFusion(e) => blueshift_storage::datafusion_message(e),
            other => other.to_string(),
        }
    }

    /// This error as a gRPC status that keeps its code.
    pub fn to_status(&self) -> tonic::Status {
        let details = ErrorDetails {
            code: self.code().name().to_string(),
        };
        tonic::Status::with_details(
            tonic::Code::Internal,
            self.message(),
            details.encode_to_vec().into(),
        )
    }

    /// The error a status from `node` stands for. A status with our details is an error
    /// the node reported; one without is the transport's (the node is gone or unreachable).
    pub fn from_status(node: u32, addr: &str, status: &tonic::Status) -> Error {
        let code = ErrorDetails::decode(status.details())
            .ok()
            .and_then(|d| Code::from_name(&d.code));
        match code {
            Some(code) => Error::Remote {
                code,
                message: status.message().to_string(),
            },
            None => match status.code() {
                tonic::Code::Unavailable
                | tonic::Code::Cancelled
                | tonic::Code::DeadlineExceeded
                | tonic::Code::Unknown => Error::NodeUnavailable {
                    node,
                    addr: addr.to_string(),
                    reason: status.message().to_string(),
                },
                _ => Error::Remote {
                    code: Code::Internal,
                    message: status.message().to_string(),
                },
            },
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        e.to_status()
    }
}

impl From<Error> for datafusion::error::DataFusionError {
    fn from(e: Error) -> Self {
        match e {
            Error::DataFusion(e) => e,
            other => CodedError::new(other.code(), other.message()).into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
