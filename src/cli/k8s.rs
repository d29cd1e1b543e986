//! `hornet k8s manifest`: reads the plan and the data files it names, makes the tokens not
//! given, and prints the objects `k8s::manifest` builds (YAML on stdout, notes on stderr).
//! Exit 0, or 2 on bad input (a flag, the plan, a data file, the size) with the reason.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use super::{EXIT_BAD_INPUT, EXIT_OK};
use crate::k8s::manifest::{self, Inputs, ManifestError, PlanFile};
use crate::k8s::names;
use crate::plan::{self, DataRows};

#[derive(Args, Debug)]
pub struct K8sArgs {
    #[command(subcommand)]
    pub command: K8sCommand,
}

#[derive(Subcommand, Debug)]
pub enum K8sCommand {
    /// Print the Kubernetes objects of one distributed test as YAML.
    ///
    /// A coordinator (`hornet serve`: a Deployment and a Service) and an Indexed Job of agents
    /// (`hornet agent`), with the plan and its data files in a ConfigMap and the tokens in a
    /// Secret. Apply with `kubectl apply -f FILE`.
    Manifest(ManifestArgs),
}

#[derive(Args, Debug)]
pub struct ManifestArgs {
    /// The plan file (TOML); its data files are included (paths relative to the plan).
    #[arg(long, value_name = "FILE")]
    pub plan: PathBuf,
    /// Number of agents (pods of the Indexed Job), 1 to 1000.
    #[arg(long, value_name = "N", value_parser = parse_agents)]
    pub agents: u32,
    /// Image of the coordinator and the agents (Hornet's Dockerfile builds it).
    #[arg(long, value_name = "IMAGE", value_parser = checked(names::check_image))]
    pub image: String,
    /// Put everything in this namespace, created by the manifest (and deleted with it).
    #[arg(long, value_name = "NS", value_parser = checked(names::check_namespace))]
    pub namespace: Option<String>,
    /// Name of the Secret, the coordinator's Deployment and Service (NAME), the ConfigMap
    /// (NAME-plans) and the agents' Job and Service (NAME-agents).
    #[arg(long, default_value = "hornet", value_parser = checked(names::check_name))]
    pub name: String,
    /// The UI and API's bearer token; a random one when left out.
    #[arg(long, value_name = "TOKEN", value_parser = checked(names::check_token))]
    pub token: Option<String>,
    /// The token agents present to the coordinator; a random one when left out.
    #[arg(long = "agent-token", value_name = "TOKEN", value_parser = checked(names::check_token))]
    pub agent_token: Option<String>,
    /// CPU of each agent, requested and limited (a Kubernetes quantity: 1, 500m, 2).
    #[arg(long, default_value = "1", value_parser = checked(names::check_quantity))]
    pub cpu: String,
    /// Memory of each agent, requested and limited (512Mi, 2Gi).
    #[arg(long, default_value = "512Mi", value_parser = checked(names::check_quantity))]
    pub memory: String,
}

/// A value parser that takes the text as it is once `check` accepts it.
fn checked(
    check: fn(&str) -> Result<(), String>,
) -> impl Fn(&str) -> Result<String, String> + Clone + Send + Sync + 'static {
    move |s| check(s).map(|()| s.to_string())
}

fn parse_agents(s: &str) -> Result<u32, String> {
    let n: u32 = s.trim().parse().map_err(|_| {
        format!(
            "the number of agents must be a whole number from 1 to {}, got {s:?}",
            manifest::MAX_AGENTS
        )
    })?;
    manifest::check_agents(n).map(|()| n)
}

pub(super) fn run(args: K8sArgs) -> anyhow::Result<i32> {
    match args.command {
        K8sCommand::Manifest(args) => print_manifest(args),
    }
}

fn print_manifest(args: ManifestArgs) -> anyhow::Result<i32> {
    let Some((plan, data)) = read_plan_files(&args.plan)? else {
        return Ok(EXIT_BAD_INPUT);
    };
    let generated = args.token.is_none();
    let random_token = || uuid::Uuid::new_v4().simple().to_string();
    let inputs = Inputs {
        token: args.token.unwrap_or_else(random_token),
        agent_token: args.agent_token.unwrap_or_else(random_token),
        name: args.name,
        namespace: args.namespace,
        image: args.image,
        agents: args.agents,
        agent_cpu: args.cpu,
        agent_memory: args.memory,
        plan,
        data,
    };
    let bytes = manifest::plans_bytes(&inputs);
    let yaml = manifest::render(&inputs)?;
    let mut out = std::io::stdout().lock();
    out.write_all(yaml.as_bytes())
        .and_then(|()| out.flush())
        .context("writing the manifest to stdout")?;
    if bytes > manifest::CLIENT_SIDE_APPLY_MAX_BYTES {
        eprintln!(
            "note: the ConfigMap holds {}: apply with `kubectl apply --server-side -f FILE` \
             (client-side apply keeps a copy in an annotation, at most 256 KiB)",
            plan::limits::format_bytes(bytes)
        );
    }
    if generated {
        let ns = inputs
            .namespace
            .as_deref()
            .map_or(String::new(), |ns| format!(" -n {ns}"));
        eprintln!(
            "the UI token is in the Secret {name}: kubectl get secret {name}{ns} -o \
             jsonpath='{{.data.token}}' | base64 -d",
            name = inputs.name
        );
    }
    Ok(EXIT_OK)
}

/// The plan (validated, data files read and checked as `hornet check` does) and its data
/// files, each at its path relative to the plan. `None` when the plan is invalid (its errors
/// are printed); an error when a data file cannot go beside it or the whole is too large.
fn read_plan_files(path: &Path) -> anyhow::Result<Option<(PlanFile, Vec<PlanFile>)>> {
    let shown = path.display().to_string();
    let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
        bail!("--plan {shown}: expected a plan file with a UTF-8 name");
    };
    // The text that is validated is the text that is shipped.
    let text = match plan::read_text(path, &shown) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{e}");
            return Ok(None);
        }
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    let validated = match plan::parse_str(&text, &shown, Some(dir)) {
        Ok(plan) => plan,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(None);
        }
    };
    let mut files: Vec<(String, &Path)> = Vec::new();
    for source in &validated.data {
        let DataRows::Csv { path: file, .. } = &source.rows else {
            continue;
        };
        let mount = names::mount_path(dir, file)
            .map_err(|e| anyhow::anyhow!("data source {}: {e}", source.name))?;
        if !files.iter().any(|(m, _)| *m == mount) {
            files.push((mount, file));
        }
    }
    // Sizes first: files too large for the ConfigMap are refused unread.
    let mut total = text.len() as u64;
    for (_, file) in &files {
        total += std::fs::metadata(file)
            .with_context(|| format!("reading {}", file.display()))?
            .len();
    }
    if total > manifest::CONFIGMAP_MAX_BYTES {
        return Err(ManifestError::TooLarge { bytes: total }.into());
    }
    let mut data = Vec::new();
    for (mount, file) in files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        data.push(PlanFile { path: mount, text });
    }
    let plan = PlanFile {
        path: file_name.to_string(),
        text,
    };
    Ok(Some((plan, data)))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn manifest_args(args: &[&str]) -> Result<ManifestArgs, clap::Error> {
        let cli = Cli::try_parse_from(["hornet", "k8s", "manifest"].iter().chain(args))?;
        match cli.command {
            Some(Command::K8s(K8sArgs {
                command: K8sCommand::Manifest(m),
            })) => Ok(m),
            other => panic!("not k8s manifest: {other:?}"),
        }
    }

    #[test]
    fn defaults_and_required_flags() {
        let m = manifest_args(&["--plan", "p.toml", "--agents", "4", "--image", "h:1"]).unwrap();
        assert_eq!((m.agents, m.image.as_str()), (4, "h:1"));
        assert_eq!(m.name, "hornet");
        assert_eq!((m.cpu.as_str(), m.memory.as_str()), ("1", "512Mi"));
        assert_eq!((m.namespace, m.token, m.agent_token), (None, None, None));
        for missing in ["--plan", "--agents", "--image"] {
            let mut args = vec!["--plan", "p.toml", "--agents", "4", "--image", "h:1"];
            let at = args.iter().position(|a| *a == missing).unwrap();
            args.drain(at..at + 2);
            let e = manifest_args(&args).unwrap_err().to_string();
            assert!(e.contains(missing), "{e}");
        }
    }

    #[test]
    fn bad_values_name_their_flag() {
        let err = |extra: &[&str]| {
            let mut args = vec!["--plan", "p.toml", "--image", "h:1"];
            args.extend_from_slice(extra);
            manifest_args(&args).unwrap_err().to_string()
        };
        assert!(err(&["--agents", "many"]).contains("'--agents <N>'"));
        assert!(err(&["--agents", "0"]).contains("from 1 to 1000, got 0"));
        assert!(err(&["--agents", "2", "--name", "x_y"]).contains("'--name <NAME>'"));
        assert!(err(&["--agents", "2", "--cpu", "fast"]).contains("'--cpu <CPU>'"));
        assert!(err(&["--agents", "2", "--token", ""]).contains("'--token <TOKEN>'"));
    }
}
