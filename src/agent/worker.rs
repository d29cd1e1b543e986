//! `hornet agent`: dials the coordinator's `/api/agents` WebSocket (retrying until it answers),
//! says hello (version, histogram configuration, index and count, its clock), and then runs
//! each start order it gets: its share of the run, from the coordinator's copy of the plan and
//! its data files, starting at the coordinator's instant (converted to this clock), sending one
//! interval a second. Edits, stop and abort are applied as they come. If the coordinator goes
//! away or falls silent for 10 s in the middle of a run, all load stops at once and the agent
//! exits with [`EXIT_COORDINATOR_LOST`]: never orphan load on a target.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use super::coordinate::is_inside;
use super::protocol::{start_input, AgentMessage, CoordinatorMessage, Hello, StartOrder};
use crate::engine::clock::now_ms;
use crate::engine::run::{launch_part, AgentPart, RunCompletion, RunHandle};
use crate::protocols::http_client::{HttpShared, OriginInfo, RawStream, UserHttp};
use crate::request::{resolve, PlanChoice};
use crate::share::Share;
use crate::stats::snapshot::RunState;
use crate::stats::tap::{SampleTap, TapBatch, TAP_CHANNEL};
use crate::store::RunSource;

/// One line on stderr, written at once (local agents share the coordinator's stderr: lines of
/// several processes must not interleave), prefixed with the agent's process id.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!("[agent pid {}] {}\n", std::process::id(), format!($($arg)*));
        let _ = std::io::stderr().write_all(line.as_bytes());
    }};
}

/// The coordinator was lost in the middle of a run (its load was stopped).
pub const EXIT_COORDINATOR_LOST: i32 = 3;
/// Refused by the coordinator, or bad settings.
pub const EXIT_REFUSED: i32 = 2;
/// Nothing heard from the coordinator for this long: it is gone.
const SILENCE: Duration = Duration::from_secs(10);
/// Between two connection attempts.
const RETRY_EVERY: Duration = Duration::from_secs(1);

type Socket = WebSocketStream<RawStream>;

/// What `hornet agent` was told.
#[derive(Clone, Debug)]
pub struct AgentSettings {
    /// `ws://HOST:PORT/api/agents` (or `http://HOST:PORT`: the path is added).
    pub coordinator: String,
    pub token: String,
    pub share: Share,
    /// How long to keep trying to reach the coordinator at first.
    pub connect_wait: Duration,
    /// Test aid: every sample's name id and latencies (µs), one line each, to this file.
    pub sample_log: Option<PathBuf>,
}

/// Runs the agent until the coordinator lets it go; returns the exit code.
pub async fn run_agent(settings: AgentSettings) -> i32 {
    let mut socket = match dial(&settings).await {
        Ok(socket) => socket,
        Err(message) => {
            say!("error: {message}");
            return EXIT_REFUSED;
        }
    };
    let offset_ms = match greet(&mut socket, settings.share).await {
        Ok(offset) => offset,
        Err(message) => {
            say!("error: {message}");
            return EXIT_REFUSED;
        }
    };
    say!(
        "agent {} of {}: connected to {} (clock offset {offset_ms} ms)",
        settings.share.index(),
        settings.share.count(),
        settings.coordinator
    );
    loop {
        let message = match next_message(&mut socket).await {
            Heard::Message(m) => m,
            Heard::Closed => {
                say!("the coordinator closed the connection; done");
                return 0;
            }
            Heard::Lost(why) => {
                say!("error: lost the coordinator ({why})");
                return EXIT_COORDINATOR_LOST;
            }
        };
        match message {
            CoordinatorMessage::Start(order) => {
                let ended = run_share(&mut socket, &settings, *order, offset_ms).await;
                if let Err(code) = ended {
                    return code;
                }
            }
            // Orders for a run this agent is not in (it ended already): nothing to do.
            CoordinatorMessage::Edit { .. }
            | CoordinatorMessage::Stop
            | CoordinatorMessage::Abort
            | CoordinatorMessage::Welcome { .. } => {}
            CoordinatorMessage::Refused { reason } => {
                say!("error: refused by the coordinator: {reason}");
                return EXIT_REFUSED;
            }
        }
    }
}

/// The coordinator's URL as a WebSocket URL to `/api/agents` and its HTTP origin.
pub fn agents_url(coordinator: &str) -> Result<(String, String), String> {
    let mut url =
        url::Url::parse(coordinator).map_err(|e| format!("--coordinator {coordinator:?}: {e}"))?;
    let (ws, http) = match url.scheme() {
        "ws" | "http" => ("ws", "http"),
        "wss" | "https" => ("wss", "https"),
        other => {
            return Err(format!(
                "--coordinator {coordinator:?}: expected a ws://, wss://, http:// or https:// URL, \
                 found {other}://"
            ))
        }
    };
    if url.path() == "/" || url.path().is_empty() {
        url.set_path("/api/agents");
    }
    let origin = format!(
        "{http}://{}",
        &url[url::Position::BeforeHost..url::Position::AfterPort]
    );
    url.set_scheme(ws)
        .map_err(|()| format!("--coordinator {coordinator:?}: cannot be a {ws}:// URL"))?;
    Ok((url.to_string(), origin))
}

/// Connects, retrying for `connect_wait` while nothing answers; a refusal by the coordinator
/// (wrong token) ends at once.
async fn dial(settings: &AgentSettings) -> Result<Socket, String> {
    let (url, origin) = agents_url(&settings.coordinator)?;
    let origin = OriginInfo::parse(&origin).map_err(|e| e.to_string())?;
    let http = UserHttp::new(HttpShared::new());
    let deadline = Instant::now() + settings.connect_wait;
    loop {
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| format!("--coordinator {url:?}: {e}"))?;
        let bearer = format!("Bearer {}", settings.token)
            .parse()
            .map_err(|_| "--token holds characters a header cannot carry".to_string())?;
        request.headers_mut().insert("authorization", bearer);
        let attempt = async {
            let raw = http
                .connect_raw(&origin.origin)
                .await
                .map_err(|e| (true, e.to_string()))?;
            let config = WebSocketConfig::default().max_message_size(Some(64 << 20));
            tokio_tungstenite::client_async_with_config(request, raw, Some(config))
                .await
                .map(|(socket, _)| socket)
                .map_err(|e| match e {
                    WsError::Http(resp) => {
                        let body = resp
                            .body()
                            .as_ref()
                            .map(|b| String::from_utf8_lossy(b).into_owned())
                            .unwrap_or_default();
                        (
                            false,
                            format!("the coordinator answered HTTP {}: {body}", resp.status()),
                        )
                    }
                    other => (true, other.to_string()),
                })
        };
        match attempt.await {
            Ok(socket) => return Ok(socket),
            Err((false, message)) => return Err(message),
            Err((true, message)) if Instant::now() >= deadline => {
                return Err(format!(
                    "could not reach the coordinator at {url} within {} s: {message}",
                    settings.connect_wait.as_secs()
                ))
            }
            Err(_) => tokio::time::sleep(RETRY_EVERY).await,
        }
    }
}

/// Hello, then Welcome or Refused. Ok: the coordinator's clock minus this one (ms).
async fn greet(socket: &mut Socket, share: Share) -> Result<i64, String> {
    let sent = now_ms();
    send(
        socket,
        &AgentMessage::Hello(Hello::new(share.index(), share.count(), sent)),
    )
    .await
    .map_err(|e| format!("cannot send the hello: {e}"))?;
    match next_message(socket).await {
        Heard::Message(CoordinatorMessage::Welcome { received_unix_ms }) => {
            let back = now_ms();
            Ok(received_unix_ms - (sent + back) / 2)
        }
        Heard::Message(CoordinatorMessage::Refused { reason }) => {
            Err(format!("refused by the coordinator: {reason}"))
        }
        Heard::Message(_) => Err("the coordinator did not answer the hello".into()),
        Heard::Closed | Heard::Lost(_) => Err("the coordinator closed the connection".into()),
    }
}

enum Heard {
    Message(CoordinatorMessage),
    /// A clean close.
    Closed,
    Lost(String),
}

/// The next message of the coordinator; pings count as signs of life.
async fn next_message(socket: &mut Socket) -> Heard {
    loop {
        let frame = match tokio::time::timeout(SILENCE, socket.next()).await {
            Err(_) => return Heard::Lost(format!("silent for {} s", SILENCE.as_secs())),
            Ok(None) => return Heard::Closed,
            Ok(Some(Err(e))) => return Heard::Lost(e.to_string()),
            Ok(Some(Ok(frame))) => frame,
        };
        match frame {
            Message::Text(text) => match serde_json::from_str(&text) {
                Ok(m) => return Heard::Message(m),
                Err(e) => return Heard::Lost(format!("unreadable message: {e}")),
            },
            Message::Close(_) => return Heard::Closed,
            _ => {}
        }
    }
}

async fn send(socket: &mut Socket, message: &AgentMessage) -> Result<(), String> {
    let text = serde_json::to_string(message).map_err(|e| e.to_string())?;
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|e| e.to_string())
}

/// One run's share. Ok: it ended (and the coordinator was told); Err: the exit code (the
/// coordinator was lost and the load stopped).
async fn run_share(
    socket: &mut Socket,
    settings: &AgentSettings,
    order: StartOrder,
    offset_ms: i64,
) -> Result<(), i32> {
    let started = match start_share(settings, &order, offset_ms).await {
        Ok(started) => started,
        Err(reason) => {
            say!("error: cannot start the share: {reason}");
            let ended = AgentMessage::Ended {
                aborted: true,
                reason,
            };
            return send(socket, &ended)
                .await
                .map_err(|_| EXIT_COORDINATOR_LOST);
        }
    };
    let Started {
        handle,
        completion,
        mut seconds,
        log,
        folder,
    } = started;
    let mut completion = Box::pin(completion.wait());
    let outcome = loop {
        tokio::select! {
            second = seconds.recv() => {
                if let Some(second) = second {
                    if let Err(e) = send(socket, &AgentMessage::Second(second)).await {
                        stop_now(&handle, &format!("cannot send to the coordinator: {e}"));
                        let _ = completion.as_mut().await;
                        return Err(EXIT_COORDINATOR_LOST);
                    }
                }
            }
            heard = next_message(socket) => match heard {
                Heard::Message(CoordinatorMessage::Edit { users, spawn_rate }) => {
                    if let Err(e) = handle.set_users(users, spawn_rate).await {
                        tracing::warn!(error = %e, "edit refused");
                    }
                }
                Heard::Message(CoordinatorMessage::Stop) => handle.stop(),
                Heard::Message(CoordinatorMessage::Abort) => handle.abort(),
                Heard::Message(_) => {}
                Heard::Closed | Heard::Lost(_) => {
                    let why = match heard {
                        Heard::Lost(why) => why,
                        _ => "it closed the connection".into(),
                    };
                    stop_now(&handle, &why);
                    let _ = completion.as_mut().await;
                    return Err(EXIT_COORDINATOR_LOST);
                }
            },
            outcome = completion.as_mut() => break outcome,
        }
    };
    // The engine sent its last second before it ended: pass on what is left.
    while let Ok(second) = seconds.try_recv() {
        send(socket, &AgentMessage::Second(second))
            .await
            .map_err(|_| EXIT_COORDINATOR_LOST)?;
    }
    if let Some(log) = log {
        let _ = log.await;
    }
    let _ = std::fs::remove_dir_all(&folder);
    let aborted = outcome.is_ok_and(|o| o.snapshot.state == RunState::Aborted);
    let ended = AgentMessage::Ended {
        aborted,
        reason: String::new(),
    };
    send(socket, &ended)
        .await
        .map_err(|_| EXIT_COORDINATOR_LOST)
}

fn stop_now(handle: &RunHandle, why: &str) {
    say!("error: lost the coordinator ({why}): stopping all load now");
    handle.abort();
}

struct Started {
    handle: RunHandle,
    completion: RunCompletion,
    seconds: mpsc::UnboundedReceiver<crate::engine::run::AgentSecond>,
    log: Option<tokio::task::JoinHandle<()>>,
    folder: PathBuf,
}

/// Rebuilds the coordinator's plan folder (plan and data files) and starts this share of it.
async fn start_share(
    settings: &AgentSettings,
    order: &StartOrder,
    offset_ms: i64,
) -> Result<Started, String> {
    let folder = std::env::temp_dir().join(format!(
        "hornet-agent-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    write_folder(&folder, order).map_err(|e| format!("{}: {e}", folder.display()))?;
    let file = folder.join(file_name(&order.plan_file));
    let plan = crate::plan::parse_str(
        &order.plan_source,
        &file.display().to_string(),
        Some(&folder),
    )
    .map_err(|e| e.to_string())?;
    let choice = PlanChoice::of(plan);
    let input = start_input(&order.settings, settings.share);
    let req = resolve(choice, input, RunSource::Api).map_err(|e| e.to_string())?;
    // The coordinator's instant on this clock.
    let ahead_ms = order.t0_unix_ms - offset_ms - now_ms();
    say!(
        "agent {} of {}: the run starts at {} (Unix ms, the coordinator's clock), in {ahead_ms} ms",
        settings.share.index(),
        settings.share.count(),
        order.t0_unix_ms
    );
    let start_at = if ahead_ms > 0 {
        Instant::now() + Duration::from_millis(ahead_ms as u64)
    } else {
        Instant::now()
    };
    let (tx, seconds) = mpsc::unbounded_channel();
    let part = AgentPart {
        start_at,
        setup_vars: order.setup_vars.clone(),
        seconds: tx,
    };
    let (tap, log) = match &settings.sample_log {
        Some(path) => {
            let (tap, _, rx) = SampleTap::channel(TAP_CHANNEL);
            let log = tokio::spawn(write_sample_log(path.clone(), rx));
            (Some(tap), Some(log))
        }
        None => (None, None),
    };
    let (handle, completion) = launch_part(&req, part, tap)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Started {
        handle,
        completion,
        seconds,
        log,
        folder,
    })
}

fn file_name(plan_file: &str) -> String {
    Path::new(plan_file)
        .file_name()
        .map_or_else(|| "plan.toml".into(), |n| n.to_string_lossy().into_owned())
}

fn write_folder(folder: &Path, order: &StartOrder) -> std::io::Result<()> {
    std::fs::create_dir_all(folder)?;
    std::fs::write(folder.join(file_name(&order.plan_file)), &order.plan_source)?;
    for (path, text) in &order.data_files {
        if !is_inside(path) {
            return Err(std::io::Error::other(format!(
                "the coordinator sent a data file outside the plan's folder: {path:?}"
            )));
        }
        let to = folder.join(path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(to, text)?;
    }
    Ok(())
}

/// Test aid: one line per sample, `name_id latency_us corrected_us ok start_unix_ms`.
async fn write_sample_log(path: PathBuf, mut rx: mpsc::Receiver<TapBatch>) {
    let Ok(file) = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .await
    else {
        say!("warning: cannot open the sample log {}", path.display());
        return;
    };
    let mut out = tokio::io::BufWriter::new(file);
    while let Some(batch) = rx.recv().await {
        let mut text = String::new();
        for s in &batch.samples {
            let start_ms =
                batch.started_unix_ms + i64::from(s.end_ms) - i64::from(s.latency_us / 1000);
            text.push_str(&format!(
                "{} {} {} {} {start_ms}\n",
                s.name.0, s.latency_us, s.corrected_us, s.ok as u8
            ));
        }
        if out.write_all(text.as_bytes()).await.is_err() {
            return;
        }
    }
    let _ = out.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coordinator_url_becomes_the_agents_socket() {
        assert_eq!(
            agents_url("http://10.0.0.5:8089").unwrap(),
            (
                "ws://10.0.0.5:8089/api/agents".into(),
                "http://10.0.0.5:8089".into()
            )
        );
        assert_eq!(
            agents_url("wss://hornet.example/api/agents").unwrap(),
            (
                "wss://hornet.example/api/agents".into(),
                "https://hornet.example".into()
            )
        );
        assert!(agents_url("ftp://x").unwrap_err().contains("found ftp://"));
        assert!(agents_url("not a url").is_err());
    }
}
