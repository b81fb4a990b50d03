//! Active upstream health checks: one loop per upstream with `health_check_interval_ms` set,
//! probing at once and then at its interval, until shutdown.

use std::sync::Arc;

use atalaya_core::gateway::Gateway;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Runs every configured health check until `shutdown` is cancelled; returns when all loops
/// have stopped.
pub async fn run_health_checks(gateway: Arc<Gateway>, shutdown: CancellationToken) {
    let mut loops = JoinSet::new();
    for (upstream, interval) in gateway.health_checks() {
        let gateway = gateway.clone();
        let shutdown = shutdown.clone();
        loops.spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = gateway.probe(&upstream) => {}
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(interval) => {}
                }
            }
        });
    }
    while loops.join_next().await.is_some() {}
}
