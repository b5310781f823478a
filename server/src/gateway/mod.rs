//! `socketlab serve`: the hosted servers plus the HTTP and WebSocket gateway.

use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, ServeArgs};
use crate::error::NetError;

/// What can stop the gateway from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Net(#[from] NetError),
}

/// Runs the gateway until `cancel` fires.
pub async fn serve(args: ServeArgs, cancel: CancellationToken) -> Result<(), ServeError> {
    let _ = (args, cancel);
    Ok(())
}
