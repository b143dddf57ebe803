//! Serves the router over HTTP/1.1 with hyper directly (axum's `serve` has no knobs), so a
//! slow or hostile client cannot hold the server:
//! - a request's head must arrive within `HTTP_HEADER_TIMEOUT_SECONDS` (hyper's
//!   `header_read_timeout`, which also runs while a keep-alive connection waits for its next
//!   request, so idle connections close after the same time);
//! - at most `HTTP_MAX_CONNECTIONS` connections are served at once; one more is answered
//!   503 in the JSON error shape and closed at once (a few at a time; beyond that, closed
//!   unanswered), so the process keeps file descriptors for the store and never stops
//!   accepting;
//! - a head larger than [`MAX_HEAD_BYTES`] is refused by hyper itself, with an empty 431
//!   (hyper writes its own parse errors, malformed request lines included, as empty 400s;
//!   the router's own limits below that size answer in JSON, see [`crate::http_limits`]);
//! - on shutdown, no new connection is accepted, open ones finish their request in flight
//!   and close (idle ones at once), `on_stop` ends the status streams, and whatever is still
//!   running after [`DRAIN_LIMIT`] is dropped.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Largest request head (request line and headers) hyper reads.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The longest requests in flight may take to finish once a stop is asked.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(5);
/// Pause after a failed accept (out of file descriptors): retrying at once would spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// The longest reading the head and writing the over-capacity answer may each take.
const REFUSAL_WRITE_LIMIT: Duration = Duration::from_secs(2);
/// Over-capacity connections being answered at once; beyond, they are closed unanswered,
/// so a flood cannot use up file descriptors through the refusals either.
const MAX_REFUSALS: usize = 64;

/// How connections are handled.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `shutdown` completes, then drains (see the module).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_stop: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            if let Ok(refusing) = Arc::clone(&refusals).try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(refusing);
                });
            }
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    on_stop();
    if tokio::time::timeout(DRAIN_LIMIT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still running {} s after the stop; dropping them",
            DRAIN_LIMIT.as_secs()
        );
    }
    Ok(())
}

/// Answers a connection over the cap with a JSON 503 and closes it.
async fn refuse(mut stream: TcpStream) {
    let error = ApiError::Overloaded {
        code: "too_many_connections",
        message: "the server holds as many connections as it may; try again shortly".into(),
    };
    let body = serde_json::to_string(&error.body()).unwrap_or_default();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        // Read the request head first: closing a socket with unread data resets it, and the
        // client would see the reset instead of the answer.
        let mut head = [0u8; 8 * 1024];
        let _ = tokio::time::timeout(REFUSAL_WRITE_LIMIT, stream.read(&mut head)).await;
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    };
    if let Err(e) = tokio::time::timeout(REFUSAL_WRITE_LIMIT, write).await {
        tracing::debug!(error = %e, "over-capacity answer not written in time");
    }
}
