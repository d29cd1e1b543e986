//! The command line's arguments (clap derive) and their value parsers: syntax only. A run's
//! values are checked against the limits and the plan by `runs::request::resolve`, the one
//! check every edge shares; the parsers here bound them early so clap can say which flag.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::config::FleetArgs;
use crate::plan::{self, limits};
use crate::request::StartInput;

pub(super) const COMPARE_HELP: &str = "\
Examples:
  hornet compare 0190a1b2-... 0190a1c9-...
  hornet compare last~1 last --plan Demo
  hornet compare --baseline last-passing --label branch=main last
  hornet compare 0190a1b2 0190a1c9
  hornet compare A B --max-regression p95=10%,error_rate=0.5pp
  hornet compare --baseline last-passing B --max-regression p95=10%

Rules (--max-regression, comma-separated METRIC=LIMIT): requests, rps, p50, p95 and p99 take a
percentage (p95=10%: the head's p95 may be at most 10% above the base's; rps=10%: its RPS at
most 10% below); error_rate takes percentage points (error_rate=0.5pp: at most 0.5 points
higher). Rules apply to every name both runs have and to the Aggregated row.

--baseline TAG picks the base run instead of naming it: the newest run before B (started
earlier) of B's plan for TAG=last-passing, or of the plan named TAG, that passed: it ended
stopped (not aborted).

Exit codes: 0 no rule broken, 1 a rule broken (the regressions are listed), 2 bad input
(unknown run id, bad rule, no database).";

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Runs: BASE HEAD, or only HEAD with --baseline. Each is an id, a unique prefix of one
    /// (4 characters or more), `last` (the newest run) or `last~N` (N runs before it).
    #[arg(value_name = "RUN", num_args = 1..=2, required = true)]
    pub runs: Vec<String>,
    /// `last` and prefixes count only runs of this plan (its name).
    #[arg(long, value_name = "NAME")]
    pub plan: Option<String>,
    /// `last` and --baseline count only runs with this label, e.g. --label branch=main.
    #[arg(long, value_name = "KEY=VALUE", value_parser = crate::request::parse_label)]
    pub label: Option<(String, String)>,
    /// Pick the base run: `last-passing` (the newest passing run of the head's plan before it)
    /// or a plan name (the newest passing run of that plan before the head).
    #[arg(long, value_name = "last-passing|PLAN")]
    pub baseline: Option<String>,
    /// Exit 1 when the head is worse than this, e.g. p95=10%,error_rate=0.5pp.
    #[arg(long = "max-regression", value_name = "RULES")]
    pub max_regression: Option<String>,
    /// SQLite file the runs were recorded into.
    #[arg(long, env = "HORNET_DB", default_value = "hornet.db")]
    pub db: PathBuf,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The plan file (TOML).
    pub plan: PathBuf,
    /// Override the plan's host, e.g. http://127.0.0.1:8090.
    #[arg(short = 'H', long)]
    pub host: Option<String>,
    /// Peak number of concurrent users.
    #[arg(short = 'u', long, default_value_t = 1, value_parser = parse_users)]
    pub users: u32,
    /// Users started per second.
    #[arg(short = 'r', long = "spawn-rate", default_value_t = 1.0, value_parser = parse_spawn_rate)]
    pub spawn_rate: f64,
    /// Stop after this long (e.g. 30s, 5m, 1h30m); without it, run until Ctrl-C.
    #[arg(short = 't', long = "run-time", value_parser = limits::parse_run_duration)]
    pub run_time: Option<Duration>,
    /// Restrict to this user class, optionally re-weighted: NAME or NAME=WEIGHT (repeatable).
    #[arg(long = "class", value_name = "NAME[=WEIGHT]", value_parser = parse_class)]
    pub classes: Vec<(String, Option<u32>)>,
    /// Only run tasks with one of these tags (comma-separated, repeatable).
    #[arg(short = 'T', long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Follow this load shape of the plan instead of -u/-r; the run ends with it.
    #[arg(long, value_name = "NAME")]
    pub shape: Option<String>,
    /// Skip tasks with any of these tags (comma-separated, repeatable).
    #[arg(short = 'E', long = "exclude-tags", value_delimiter = ',')]
    pub exclude_tags: Vec<String>,
    /// How long stopping users may take to finish their current task.
    #[arg(long = "stop-timeout", value_parser = limits::parse_run_duration, default_value = "0s")]
    pub stop_timeout: Duration,
    /// Write the final summary as JSON to FILE, or to stdout with `-`.
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<String>,
    /// Add a threshold (repeatable), e.g. "p95<300ms", "error_rate<1%", "'/x'.p99<1s"; exit 1
    /// when one fails.
    #[arg(long = "threshold", value_name = "EXPR", value_parser = parse_threshold_arg)]
    pub thresholds: Vec<String>,
    /// Exit 1 when any request failed, even if every threshold held.
    #[arg(long = "exit-code-on-error")]
    pub exit_code_on_error: bool,
    /// Write the threshold verdicts as JUnit XML (one test case per threshold).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write Locust's CSV files: PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv.
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<PathBuf>,
    /// With --csv: also a history row per name each second (Locust's --csv-full-history).
    #[arg(long = "csv-full-history", requires = "csv")]
    pub csv_full_history: bool,
    /// Write one JMeter CSV (JTL) line per sample to FILE, streamed while the run goes.
    #[arg(long, value_name = "FILE")]
    pub jtl: Option<PathBuf>,
    /// Write a self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// SQLite file the run is recorded into.
    #[arg(long, env = "HORNET_DB", default_value = "hornet.db")]
    pub db: PathBuf,
    /// Do not record the run.
    #[arg(long = "no-history")]
    pub no_history: bool,
    #[command(flatten)]
    pub samples: crate::config::SampleArgs,
    /// The UI's address, for the run's link (as `hornet serve --bind`).
    #[arg(
        long = "ui",
        env = "HORNET_BIND",
        default_value = "127.0.0.1:8089",
        hide = true
    )]
    pub ui: String,
    /// Run the load on N agents (`hornet agent` processes that dial this one); the statistics
    /// are theirs merged. With --local-agents alone, N is that count.
    #[arg(long, value_name = "N", value_parser = crate::config::parse_agents)]
    pub agents: Option<u32>,
    /// Where agents dial this coordinator (a WebSocket at /api/agents): default 0.0.0.0:8089,
    /// or a free loopback port when every agent is local.
    #[arg(long = "agent-bind", value_name = "ADDR")]
    pub agent_bind: Option<String>,
    /// Exit 1 when an agent was lost during the run (its load is missing from then on).
    #[arg(long = "fail-on-degraded")]
    pub fail_on_degraded: bool,
    /// Label the run in the history, e.g. --label branch=main --label sha=$GIT_SHA.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = crate::request::parse_label)]
    pub labels: Vec<(String, String)>,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

#[derive(Args, Debug)]
pub struct TargetArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090", env = "HORNET_TARGET_BIND")]
    pub bind: String,
    /// Bearer token the API routes require.
    #[arg(long, default_value = "demo-token")]
    pub token: String,
    /// Serve the API routes without a token.
    #[arg(long)]
    pub no_auth: bool,
}

fn parse_class(s: &str) -> Result<(String, Option<u32>), String> {
    match s.split_once('=') {
        None => Ok((s.to_string(), None)),
        Some((name, w)) => {
            let w: i64 = w.trim().parse().map_err(|_| {
                format!(
                    "weight of {name} must be a whole number from 1 to {}, got {w:?}",
                    limits::MAX_WEIGHT
                )
            })?;
            let w = limits::check_weight(w).map_err(|e| format!("{name}: {e}"))?;
            Ok((name.to_string(), Some(w)))
        }
    }
}

/// `-u`, bounded like every user count (`plan::limits`).
fn parse_users(s: &str) -> Result<u32, String> {
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("users must be a whole number, got {s:?}"))?;
    limits::check_users(n)
}

/// `-r`, bounded like every spawn rate (`plan::limits`).
fn parse_spawn_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("spawn rate must be a number, got {s:?}"))?;
    limits::check_spawn_rate(r)
}

/// Validated like a plan's threshold; clap exits 2 with the message on a bad one.
fn parse_threshold_arg(s: &str) -> Result<String, String> {
    plan::parse_threshold(s).map(|_| s.trim().to_string())
}

impl RunArgs {
    /// The start as `runs::request::resolve` takes it from every edge.
    pub fn start_input(&self) -> StartInput {
        StartInput {
            host: self.host.clone(),
            users: Some(i64::from(self.users)),
            spawn_rate: Some(self.spawn_rate),
            run_time: self.run_time,
            stop_timeout: Some(self.stop_timeout),
            classes: (!self.classes.is_empty()).then(|| {
                self.classes
                    .iter()
                    .map(|(name, w)| (name.clone(), w.map(i64::from)))
                    .collect()
            }),
            shape: self.shape.clone(),
            tags: self.tags.clone(),
            exclude_tags: self.exclude_tags.clone(),
            thresholds: self.thresholds.clone(),
            name_cap: None,
            // an agent reads no monitors (its coordinator does); `hornet run`: the plan's
            monitor: None,
            share: None,
            agents: match (self.agents, self.fleet.local_agents) {
                (Some(n), _) | (None, Some(n)) => Some(i64::from(n)),
                (None, None) => None,
            },
            labels: self.labels.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn run_args(args: &[&str]) -> Result<RunArgs, clap::Error> {
        let cli = Cli::try_parse_from(["hornet", "run", "plan.toml"].iter().chain(args))?;
        match cli.command {
            Some(Command::Run(args)) => Ok(*args),
            other => panic!("not a run: {other:?}"),
        }
    }

    #[test]
    fn run_flags_become_one_start_input() {
        let a = run_args(&[
            "-u",
            "50",
            "-r",
            "2.5",
            "-t",
            "1m30s",
            "-H",
            "http://127.0.0.1:1",
            "--class",
            "A=3",
            "--class",
            "B",
            "-T",
            "x,y",
            "-E",
            "z",
            "--stop-timeout",
            "5s",
            "--shape",
            "steps",
            "--threshold",
            "p95<300ms",
        ])
        .unwrap();
        let input = a.start_input();
        assert_eq!(input.users, Some(50));
        assert_eq!(input.spawn_rate, Some(2.5));
        assert_eq!(input.run_time, Some(Duration::from_secs(90)));
        assert_eq!(input.stop_timeout, Some(Duration::from_secs(5)));
        assert_eq!(input.host.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(
            input.classes,
            Some(vec![("A".to_string(), Some(3)), ("B".to_string(), None)])
        );
        assert_eq!(
            (input.tags, input.exclude_tags),
            (
                vec!["x".to_string(), "y".to_string()],
                vec!["z".to_string()]
            )
        );
        assert_eq!(input.shape.as_deref(), Some("steps"));
        assert_eq!(input.thresholds, ["p95<300ms"]);
    }

    #[test]
    fn defaults_are_one_user_at_one_per_second_until_stopped() {
        let input = run_args(&[]).unwrap().start_input();
        assert_eq!((input.users, input.spawn_rate), (Some(1), Some(1.0)));
        assert_eq!(
            (input.run_time, input.stop_timeout),
            (None, Some(Duration::ZERO))
        );
        assert_eq!(input.classes, None);
    }

    #[test]
    fn bad_values_name_their_flag() {
        let err = |args: &[&str]| run_args(args).unwrap_err().to_string();
        assert!(err(&["-u", "ten"]).contains("users must be a whole number, got \"ten\""));
        assert!(err(&["-u", "2000000"]).contains("users must be at most 1000000"));
        assert!(err(&["-r", "0"]).contains("spawn rate must be a number of users per second"));
        assert!(err(&["-t", "soon"]).contains("--run-time"));
        assert!(err(&["--class", "A=0"])
            .contains("A: a weight must be a whole number from 1 to 1000, got 0"));
        assert!(err(&["--class", "A=x"]).contains("weight of A must be a whole number"));
        assert!(err(&["--threshold", "p95 <"]).contains("--threshold"));
        assert!(
            err(&["--csv-full-history"]).contains("--csv"),
            "needs --csv"
        );
    }

    #[test]
    fn compare_takes_one_or_two_runs() {
        let cli =
            Cli::try_parse_from(["hornet", "compare", "a", "b", "--max-regression", "p95=10%"])
                .unwrap();
        let Some(Command::Compare(c)) = cli.command else {
            panic!("not compare")
        };
        assert_eq!(c.runs, ["a", "b"]);
        assert_eq!(c.max_regression.as_deref(), Some("p95=10%"));
        assert!(Cli::try_parse_from(["hornet", "compare"]).is_err());
        assert!(Cli::try_parse_from(["hornet", "compare", "a", "b", "c"]).is_err());
    }

    #[test]
    fn bare_hornet_serves() {
        let cli = Cli::try_parse_from(["hornet", "--bind", "127.0.0.1:0"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.bind, "127.0.0.1:0");
    }
}
