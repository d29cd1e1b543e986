//! Settings of `hornet serve`, from flags and `HORNET_*` environment variables (clap reads both).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

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
