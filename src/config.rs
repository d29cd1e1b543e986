//! Settings of `hornet serve`, from flags and `HORNET_*` environment variables (clap reads both).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Where the server listens, what it keeps and what it protects itself with.
#[derive(Args, Clone, Debug)]
pub struct Settings {
    /// Address of the UI and the REST API.
    #[arg(long, env = "HORNET_BIND", default_value = "127.0.0.1:8089")]
    pub bind: String,
    /// SQLite file keeping the history (created if missing).
    #[arg(long, env = "HORNET_DB", default_value = "hornet.db")]
    pub db: PathBuf,
    /// Directory of test plans (`*.toml`); the built-in demo plan is offered when it has none.
    #[arg(long, env = "HORNET_PLANS", default_value = "plans")]
    pub plans: PathBuf,
    /// Address of the built-in demo target started beside the UI.
    #[arg(
        long = "demo-target",
        env = "HORNET_DEMO_TARGET",
        default_value = "127.0.0.1:8090"
    )]
    pub demo_target: String,
    /// Do not start the built-in demo target.
    #[arg(long = "no-demo-target")]
    pub no_demo_target: bool,
    /// Require this bearer token (API) or a login with it (browser).
    #[arg(long, env = "HORNET_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Allow binding to a non-loopback address without a token.
    #[arg(long = "allow-anonymous")]
    pub allow_anonymous: bool,
    /// Timeouts and caps of the HTTP server. Not flags: the defaults suit every deployment we
    /// know of, and tests shorten them to keep slow-client checks to a second or two.
    #[arg(skip)]
    pub limits: ServerLimits,
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub samples: SampleArgs,
}

/// Whether runs keep their samples beside the database, and how much of them (`serve`, `run`).
#[derive(Args, Clone, Debug)]
pub struct SampleArgs {
    /// Do not keep each run's samples beside the database (a stored run then has no
    /// results.jtl; `hornet run --jtl FILE` still writes one).
    #[arg(long = "no-samples")]
    pub no_samples: bool,
    /// The most disk one run's kept samples may take, compressed (about 4 bytes a sample), e.g.
    /// 256MiB or 2GiB; later samples are counted, not kept, and the run says so.
    #[arg(long = "samples-cap", value_name = "SIZE", default_value = "256MiB", value_parser = parse_size)]
    pub samples_cap: u64,
}

impl Default for SampleArgs {
    fn default() -> SampleArgs {
        SampleArgs {
            no_samples: false,
            samples_cap: crate::store::samples::DEFAULT_CAP_BYTES,
        }
    }
}

impl SampleArgs {
    /// Where the runs recorded into `db` keep their samples; None with `--no-samples`.
    pub fn archive(&self, db: &std::path::Path) -> Option<crate::store::samples::SampleArchive> {
        (!self.no_samples)
            .then(|| crate::store::samples::SampleArchive::beside(db, self.samples_cap))
    }
}

/// A size in bytes: a whole number with an optional unit (B, KB/KiB, MB/MiB, GB/GiB; KB and
/// friends are taken as binary units too, as disk tools do), at least 1 MiB.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("a size is a whole number with a unit such as 256MiB, got {s:?}"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?} (use B, KiB, MiB, GiB or TiB)"
            ))
        }
    };
    let bytes = n
        .checked_mul(scale)
        .ok_or_else(|| format!("{s:?} is too large"))?;
    if bytes < 1 << 20 {
        return Err(format!("{s:?} is below the smallest cap, 1MiB"));
    }
    Ok(bytes)
}

/// The agents a coordinator (`serve`, `run --agents`) accepts and starts.
#[derive(Args, Clone, Debug)]
pub struct FleetArgs {
    /// Token agents must present (constant-time compared); generated when every agent is local.
    #[arg(
        long = "agent-token",
        env = "HORNET_AGENT_TOKEN",
        hide_env_values = true
    )]
    pub agent_token: Option<String>,
    /// Start N agent processes on this machine (like Locust's --processes).
    #[arg(long = "local-agents", value_name = "N", value_parser = parse_agents)]
    pub local_agents: Option<u32>,
    /// How long a start waits for its agents to connect before it fails naming the missing.
    #[arg(long = "agent-wait", value_name = "DURATION", default_value = "60s", value_parser = crate::plan::limits::parse_run_duration)]
    pub agent_wait: Duration,
}

impl Default for FleetArgs {
    fn default() -> FleetArgs {
        FleetArgs {
            agent_token: None,
            local_agents: None,
            agent_wait: Duration::from_secs(60),
        }
    }
}

impl FleetArgs {
    /// The agents' token: the one given, or a fresh one when every agent will be local (their
    /// command lines carry it).
    pub fn token(&self) -> Option<String> {
        self.agent_token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .or_else(|| {
                self.local_agents
                    .map(|_| uuid::Uuid::new_v4().simple().to_string())
            })
    }
}

/// `--agents`, `--local-agents`: 1 to `share::MAX_AGENTS`.
pub fn parse_agents(s: &str) -> Result<u32, String> {
    let n: u32 = s
        .trim()
        .parse()
        .map_err(|_| format!("agents must be a whole number, got {s:?}"))?;
    if (1..=crate::share::MAX_AGENTS).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "agents must be from 1 to {}, got {n}",
            crate::share::MAX_AGENTS
        ))
    }
}

/// What one client (or all of them) may hold of the server: time, connections, guesses.
#[derive(Clone, Debug)]
pub struct ServerLimits {
    /// A request's head (request line and headers) must arrive within this, counted from the
    /// first read of a new request (an idle keep-alive connection is closed after it too).
    pub header_read_timeout: Duration,
    /// A request's whole body must arrive within this, however slowly it trickles.
    pub body_read_timeout: Duration,
    /// Open connections from one client IP; more are closed as soon as they are accepted.
    pub max_connections_per_ip: usize,
    /// Open connections in all; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// After a stop, open connections get this long to finish their request; then they are
    /// dropped.
    pub shutdown_deadline: Duration,
    /// Wrong tokens one client IP may try in a burst; the last of them starts a block. The
    /// allowance refills one a second; after a block the client has one try, and each block
    /// that try starts is twice as long as the one before.
    pub auth_burst: u32,
    /// The first wait after the burst; doubled by each further failure, up to `auth_max_block`.
    pub auth_base_block: Duration,
    pub auth_max_block: Duration,
    /// A login session ends after this long unused (each use restarts the clock).
    pub session_idle: Duration,
    /// Sessions kept at once; a login beyond it ends the least recently used one.
    pub max_sessions: usize,
    /// Client IPs whose failed attempts are remembered; beyond it the stalest are forgotten.
    pub max_tracked_clients: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_connections_per_ip: 64,
            max_connections: 1024,
            shutdown_deadline: Duration::from_secs(5),
            auth_burst: 10,
            auth_base_block: Duration::from_secs(1),
            auth_max_block: Duration::from_secs(300),
            session_idle: Duration::from_secs(12 * 3600),
            max_sessions: 10_000,
            max_tracked_clients: 10_000,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8089".into(),
            db: PathBuf::from("hornet.db"),
            plans: PathBuf::from("plans"),
            demo_target: "127.0.0.1:8090".into(),
            no_demo_target: false,
            token: None,
            allow_anonymous: false,
            limits: ServerLimits::default(),
            fleet: FleetArgs::default(),
            samples: SampleArgs::default(),
        }
    }
}

/// Whether every address `bind` can resolve to is loopback (`localhost` counts).
pub fn is_loopback_bind(bind: &str) -> bool {
    if let Ok(addr) = bind.parse::<SocketAddr>() {
        return addr.ip().is_loopback();
    }
    let host = bind.rsplit_once(':').map_or(bind, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The base URL people use to reach a server bound to `bind` (`0.0.0.0` shown as loopback).
pub fn public_base_url(bind: &str) -> String {
    match bind.parse::<SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() => format!("http://127.0.0.1:{}", addr.port()),
        Ok(addr) => format!("http://{addr}"),
        Err(_) => format!("http://{bind}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units_and_refuse_nonsense() {
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size(" 1 gb "), Ok(1 << 30));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        for bad in ["", "MiB", "1.5GiB", "12 parsecs", "1KiB", "99999999999TiB"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert!(parse_size("12 parsecs").unwrap_err().contains("parsecs"));
    }

    #[test]
    fn loopback_binds() {
        assert!(is_loopback_bind("127.0.0.1:8089"));
        assert!(is_loopback_bind("[::1]:8089"));
        assert!(is_loopback_bind("localhost:8089"));
        assert!(!is_loopback_bind("0.0.0.0:8089"));
        assert!(!is_loopback_bind("192.168.1.4:8089"));
        assert!(!is_loopback_bind("example.com:80"));
    }

    #[test]
    fn base_urls() {
        assert_eq!(public_base_url("127.0.0.1:8089"), "http://127.0.0.1:8089");
        assert_eq!(public_base_url("0.0.0.0:9000"), "http://127.0.0.1:9000");
        assert_eq!(public_base_url("[::1]:80"), "http://[::1]:80");
    }
}
