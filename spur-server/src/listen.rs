//! Accepting connections: what axum's own `serve` does, plus the limits a
//! public server needs. Request headers must arrive within
//! `HEADER_READ_TIMEOUT_MS` (also the longest a kept-alive connection may
//! sit idle, and the longest a new socket may say nothing), and one peer
//! address holds at most `CONNECTIONS_PER_IP` connections (a trusted proxy
//! is not counted: its clients are limited after it, by their address).

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use ipnet::IpNet;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::open_counts::OpenCounts;

#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    pub header_read: Duration,
    /// 0: no cap.
    pub per_ip: usize,
    /// Peers never capped (load balancers, reverse proxies).
    pub trusted: Vec<IpNet>,
}

/// Replies stream as small SSE writes; Nagle's algorithm would hold each
/// behind the client's delayed ACK (36-41 ms per first delta measured with
/// `spur-stream`; 0.1 ms without it).
fn no_delay(stream: &tokio::net::TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "TCP_NODELAY not set");
    }
}

/// Serves `app` until `shutdown`, then stops accepting and returns once
/// every open connection has finished its requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let connections = TaskTracker::new();
    let open = OpenCounts::default();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: keep serving the rest.
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        no_delay(&stream);
        let capped = limits.per_ip > 0 && !limits.trusted.iter().any(|n| n.contains(&peer.ip()));
        let slot = match open.take(peer.ip(), if capped { limits.per_ip } else { 0 }) {
            Some(slot) => slot,
            None => {
                metrics::counter!("spur_connections_refused_total", "reason" => "per_ip")
                    .increment(1);
                drop(stream);
                continue;
            }
        };
        let service = app
            .clone()
            .map_request(move |request: hyper::Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let service = TowerToHyperService::new(service.map_err(|e: Infallible| match e {}));
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read);
        builder.http2().timer(TokioTimer::new());
        let header_read = limits.header_read;
        let watcher = graceful.watcher();
        let stopping = shutdown.clone();
        connections.spawn(async move {
            // The protocol is detected from the first bytes, before hyper's
            // header timer runs: a socket that sends nothing is cut here, and
            // at shutdown (it has no request to finish).
            let mut first = [0u8; 1];
            let spoke = tokio::select! {
                peeked = tokio::time::timeout(header_read, stream.peek(&mut first)) => {
                    matches!(peeked, Ok(Ok(1..)))
                }
                _ = stopping.cancelled() => false,
            };
            if !spoke {
                return;
            }
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%error, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    // Sockets still before their first byte are not hyper's yet.
    connections.close();
    connections.wait().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_sockets_send_small_writes_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(address).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(!accepted.nodelay().unwrap(), "the kernel's default");
        no_delay(&accepted);
        assert!(accepted.nodelay().unwrap());
    }
}
