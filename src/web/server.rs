//! The connection loop of `hornet serve`: accepts TCP connections, refuses those beyond the
//! per-IP and global caps at once, serves each with hyper's HTTP/1.1 under a header read timeout,
//! tells the router each request's peer address (`ConnectInfo`), and on stop closes idle
//! connections, lets busy ones finish, and drops whatever is still open after the deadline.
//!
//! HTTP/1.1 only: browsers speak HTTP/2 only over TLS, which this server does not terminate,
//! and hyper-util's HTTP/1-or-2 detection reads the first bytes with no timeout at all (a
//! client sending one byte would hold a connection forever).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use super::limiter::ClientKey;
use crate::config::ServerLimits;

/// Refused connections are logged at most this often (with a count): a flood of them must not
/// flood the log.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `stop` resolves; then stops accepting, lets open
/// connections finish their current request for up to `limits.shutdown_deadline`, and drops the
/// rest.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ServerLimits,
    stop: impl Future<Output = ()>,
) {
    let slots = Arc::new(Slots::new(limits));
    let tracker = TaskTracker::new();
    let graceful = CancellationToken::new();
    let hard = CancellationToken::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Some(slot) = Slots::take(&slots, peer.ip()) else {
            // Dropping the stream closes it before anything is read.
            continue;
        };
        // Event streams and small JSON answers should leave at once, not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let conn = serve_connection(
            stream,
            peer,
            router.clone(),
            http.clone(),
            graceful.clone(),
            hard.clone(),
        );
        tracker.spawn(async move {
            conn.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.cancel();
    tracker.close();
    if tokio::time::timeout(limits.shutdown_deadline, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = tracker.len(),
            deadline_s = limits.shutdown_deadline.as_secs_f64(),
            "dropping connections still open at the shutdown deadline"
        );
        hard.cancel();
        tracker.wait().await;
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    http: http1::Builder,
    graceful: CancellationToken,
    hard: CancellationToken,
) {
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        async move {
            std::future::poll_fn(|cx| {
                Service::<hyper::Request<Incoming>>::poll_ready(&mut router, cx)
            })
            .await?;
            router.call(req).await
        }
    });
    // Upgrades: agents hold a WebSocket at /api/agents.
    let conn = http
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let outcome = tokio::select! {
        r = conn.as_mut() => r,
        () = graceful.cancelled() => {
            // Closes an idle connection now; a busy one after its current response.
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                r = conn.as_mut() => r,
                () = hard.cancelled() => Ok(()),
            }
        }
    };
    if let Err(e) = outcome {
        // Timeouts and resets by clients are routine; nothing for a warning.
        tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
    }
}

/// What accept errors mean: a client that gave up is nothing; running out of file descriptors
/// (or the like) would spin the loop, so wait a little before accepting again.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accepting a connection failed; pausing accepts for 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Open connections, counted per client (IP, or IPv6 /64) and in all.
struct Slots {
    inner: Mutex<SlotCounts>,
    per_client: usize,
    total: usize,
}

#[derive(Default)]
struct SlotCounts {
    /// Only clients with open connections: at most `total` entries.
    open: HashMap<ClientKey, usize>,
    total: usize,
    refused_unlogged: u64,
    last_refusal_log: Option<Instant>,
}

/// One open connection; gives its slot back when dropped.
struct Slot {
    slots: Arc<Slots>,
    client: ClientKey,
}

impl Slots {
    fn new(limits: &ServerLimits) -> Slots {
        Slots {
            inner: Mutex::new(SlotCounts::default()),
            per_client: limits.max_connections_per_ip.max(1),
            total: limits.max_connections.max(1),
        }
    }

    fn take(slots: &Arc<Slots>, ip: IpAddr) -> Option<Slot> {
        let client = ClientKey::of(ip);
        // std Mutex: held for a counter update, never across an await.
        let mut c = slots.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = c.open.get(&client).copied().unwrap_or(0);
        if mine >= slots.per_client || c.total >= slots.total {
            c.refused_unlogged += 1;
            let now = Instant::now();
            if c.last_refusal_log
                .is_none_or(|t| now.duration_since(t) >= REFUSAL_LOG_EVERY)
            {
                let refused = std::mem::take(&mut c.refused_unlogged);
                c.last_refusal_log = Some(now);
                tracing::warn!(
                    peer = %client,
                    open_from_peer = mine,
                    open = c.total,
                    refused,
                    "connections refused: too many open"
                );
            }
            return None;
        }
        *c.open.entry(client).or_insert(0) += 1;
        c.total += 1;
        Some(Slot {
            slots: Arc::clone(slots),
            client,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self
            .slots
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.open.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                c.open.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cap_per_client_and_in_all_and_come_back() {
        let slots = Arc::new(Slots::new(&ServerLimits {
            max_connections_per_ip: 2,
            max_connections: 3,
            ..ServerLimits::default()
        }));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        let a1 = Slots::take(&slots, a).unwrap();
        let _a2 = Slots::take(&slots, a).unwrap();
        assert!(Slots::take(&slots, a).is_none(), "per client");
        let _b1 = Slots::take(&slots, b).unwrap();
        assert!(Slots::take(&slots, c).is_none(), "in all");
        drop(a1);
        assert!(Slots::take(&slots, c).is_some());
        let counts = slots.inner.lock().unwrap();
        assert_eq!(counts.total, 2, "the slot taken in the assert was dropped");
        assert_eq!(counts.open.len(), 2);
    }
}
