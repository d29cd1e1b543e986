//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default: warnings only). Tests stay
//! quiet unless `TEST_LOG` is set.

use tracing_subscriber::EnvFilter;

/// The default filter. The platform verifier logs an ERROR line for every certificate it refuses;
/// a run against a target with a bad certificate counts each as a failure with that message
/// already, so those lines would only flood the terminal.
const DEFAULT_FILTER: &str = "warn,rustls_platform_verifier=off";

pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    // Err: a subscriber is already installed (tests); keep it.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// For tests: logs only when `TEST_LOG` is set.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        init();
    }
}
