//! Errors of the `blueshift` command itself: configuration, start-up and supervision; the
//! roles' own errors pass through as they are.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Io(String),
    /// A process of the cluster did not start or stopped.
    #[error("{0}")]
    NotReady(String),
    #[error("{}", .0.user_message())]
    Leader(#[from] blueshift_leader::Error),
    #[error(transparent)]
    Compute(#[from] blueshift_compute::Error),
    #[error(transparent)]
    Storage(#[from] blueshift_storage::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
