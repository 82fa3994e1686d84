//! The admin HTTP/JSON API, on 127.0.0.1:8311 by default: agents log in, out, pause and resume
//! (as with their feature codes), supervisors read queues and agents, the dial plan is
//! reloaded on demand, and `/metrics` exposes counters in the Prometheus text format.
//! Every route needs a bearer token, even on loopback: `[admin] token`, or a console user's
//! API token (their role applies); changes are audited like the console's.
//!
//! No call logic here: requests become ACD inputs, plan reloads, or reads of shared counters.

pub mod api;
pub mod board;

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::server::Ctx;

pub async fn serve(ctx: Arc<Ctx>, listener: TcpListener) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "admin API listening");
    }
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "admin accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| api::handle(ctx.clone(), peer, req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Bind the admin listener (an error here is a start-up error: the address is taken).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
