//! Serving until Ctrl-C or SIGTERM, then draining for a bounded time: open streams that
//! are still running when the deadline passes (a client that stopped reading, say) are
//! cut, so the process always exits.
//!
//! Every accepted connection gets `TCP_NODELAY`. `axum::serve` leaves Nagle's algorithm
//! on, and a streamed body is written a chunk at a time as chunks are ready: the last,
//! partly filled segment of a write then waits for the ACK of the one before, which the
//! client delays (up to 40 ms on Linux), once per pause of the source. The lab measures
//! the difference: `reports/compare.md`, the `http` rows of each path with and without
//! it, and the rows of this service itself.

use std::future::IntoFuture;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

/// How [`serve`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Every connection finished within the deadline.
    Drained,
    /// The deadline passed with connections still open; they are cut when the runtime
    /// shuts down.
    Cut,
}

/// A future that completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM, with the signal's
/// name. The handlers are installed when this is called (not when the future is first
/// polled), so a signal that arrives in between is not lost. Call it inside a tokio
/// runtime.
pub fn signal() -> impl std::future::Future<Output = &'static str> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = signal(SignalKind::terminate()).and_then(|terminate| {
            signal(SignalKind::interrupt()).map(|interrupt| (terminate, interrupt))
        });
        async move {
            match handlers {
                Ok((mut terminate, mut interrupt)) => tokio::select! {
                    _ = terminate.recv() => "SIGTERM",
                    _ = interrupt.recv() => "SIGINT",
                },
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    "Ctrl-C"
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Serves `router` on `listener` until `stop` completes, then stops accepting and waits
/// at most `grace` for the open connections. Every accepted connection gets
/// `TCP_NODELAY` (see the module docs).
///
/// # Errors
///
/// The server's I/O error.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    stop: impl std::future::Future<Output = &'static str> + Send + 'static,
    grace: Duration,
) -> std::io::Result<Stopped> {
    let (stopping, mut stopped) = tokio::sync::watch::channel(false);
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(%err, "cannot set TCP_NODELAY on an accepted connection");
        }
    });
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let name = stop.await;
            tracing::info!(
                signal = name,
                grace_secs = grace.as_secs_f64(),
                "shutting down: no new connections; open responses get the grace period"
            );
            let _ = stopping.send(true);
        })
        .into_future();
    let deadline = async move {
        if stopped.wait_for(|stopping| *stopping).await.is_err() {
            // The server ended without a signal; it wins the race below.
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = server => served.map(|()| Stopped::Drained),
        () = deadline => {
            tracing::warn!(
                grace_secs = grace.as_secs_f64(),
                "grace period over: cutting the responses still open"
            );
            Ok(Stopped::Cut)
        }
    }
}
