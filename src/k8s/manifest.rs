//! The objects of one distributed run, built from [`Inputs`] (pure: the caller read the files
//! and made the tokens), and their multi-document YAML.
//!
//! - a Namespace, when one is asked for;
//! - a Secret `NAME`: `token` (the UI and API's bearer token) and `agent-token` (shared by the
//!   coordinator and its agents);
//! - a ConfigMap `NAME-plans`: the plan and every data file it reads, mounted at `/plans` at the
//!   paths the plan names them by;
//! - the coordinator: a Deployment `NAME` (`hornet serve`) and a Service `NAME` on port 8089;
//! - the agents: a headless Service `NAME-agents` and an Indexed Job `NAME-agents` of N pods,
//!   each running `hornet agent` with its index from `JOB_COMPLETION_INDEX` (set by Kubernetes).

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvVar, EnvVarSource, HTTPGetAction, KeyToPath, Namespace, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, Secret, SecretKeySelector, SecurityContext, Service, ServicePort,
    ServiceSpec, TopologySpreadConstraint, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use super::names;
use crate::plan::limits::format_bytes;

/// The port of the coordinator's UI, API and agent endpoint.
pub const PORT: i32 = 8089;

/// Where the ConfigMap is mounted in the coordinator: `hornet serve --plans` reads it.
pub const PLANS_DIR: &str = "/plans";

/// What one ConfigMap may hold (its values added up): Kubernetes refuses more.
pub const CONFIGMAP_MAX_BYTES: u64 = 1024 * 1024;

/// Above this, `kubectl apply` (client-side) cannot keep its copy of the ConfigMap in the
/// `last-applied-configuration` annotation (all annotations: 256 KiB); `--server-side` can.
pub const CLIENT_SIDE_APPLY_MAX_BYTES: u64 = 256 * 1024;

/// Agents of one run, as `--agents` allows.
pub const MAX_AGENTS: u32 = 1000;

/// How long a finished agents' Job (and its pods' logs) stays before Kubernetes deletes it.
pub const JOB_TTL_SECONDS: i32 = 3600;

/// The secret's keys.
const TOKEN_KEY: &str = "token";
const AGENT_TOKEN_KEY: &str = "agent-token";

/// Everything the manifest is made of, checked by [`build`].
#[derive(Clone, Debug)]
pub struct Inputs {
    /// The objects' name (`--name`), a DNS-1035 label.
    pub name: String,
    pub namespace: Option<String>,
    /// The image the coordinator and the agents run (its entrypoint is `hornet`).
    pub image: String,
    pub agents: u32,
    /// The UI and API's bearer token.
    pub token: String,
    /// The token agents present to the coordinator.
    pub agent_token: String,
    /// Each agent's CPU and memory, requested and limited alike (a load generator that
    /// bursts past its request measures the noise of its neighbours).
    pub agent_cpu: String,
    pub agent_memory: String,
    /// The plan, by its file name.
    pub plan: PlanFile,
    /// The plan's data files, each by its path relative to the plan's folder (`data/users.csv`).
    pub data: Vec<PlanFile>,
}

/// A file mounted under `/plans`: its path there (`/`-separated, relative) and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanFile {
    pub path: String,
    pub text: String,
}

/// One object of the manifest; serialized as the object itself.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Object {
    Namespace(Box<Namespace>),
    Secret(Box<Secret>),
    ConfigMap(Box<ConfigMap>),
    Deployment(Box<Deployment>),
    Service(Box<Service>),
    Job(Box<Job>),
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// An input Kubernetes would refuse; `field` is the flag's name without dashes.
    #[error("--{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error(
        "the plan and its data files come to {} ({bytes} bytes), more than the {} a ConfigMap \
         holds; make the data files smaller or bake them into the image",
        format_bytes(*bytes),
        format_bytes(CONFIGMAP_MAX_BYTES)
    )]
    TooLarge { bytes: u64 },
    #[error("writing the manifest as YAML: {0}")]
    Yaml(#[from] serde_saphyr::SerializeError),
}

/// The objects, in the order they are applied.
pub fn build(inputs: &Inputs) -> Result<Vec<Object>, ManifestError> {
    check(inputs)?;
    let names = Names::new(&inputs.name, inputs.namespace.as_deref());
    let (config_map, items) = plans_config_map(&names, inputs);
    let mut objects = Vec::new();
    if let Some(ns) = &inputs.namespace {
        objects.push(Object::Namespace(Box::new(Namespace {
            metadata: ObjectMeta {
                name: Some(ns.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        })));
    }
    objects.push(Object::Secret(Box::new(secret(&names, inputs))));
    objects.push(Object::ConfigMap(Box::new(config_map)));
    objects.push(Object::Deployment(Box::new(coordinator(
        &names, inputs, items,
    ))));
    objects.push(Object::Service(Box::new(coordinator_service(&names))));
    objects.push(Object::Service(Box::new(agents_service(&names))));
    objects.push(Object::Job(Box::new(agents_job(&names, inputs))));
    Ok(objects)
}

/// The objects as one YAML stream, each document after a `---` line. Strings a YAML 1.1
/// reader (kubectl's) would take for something else (`no`, `on`, `0777`, `1_000`) are quoted;
/// text of several lines (the plan, a CSV file) is written as a literal block, and a long line
/// is never folded.
pub fn to_yaml(objects: &[Object]) -> Result<String, ManifestError> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = usize::MAX;
    let mut out = String::new();
    for object in objects {
        out.push_str("---\n");
        serde_saphyr::to_fmt_writer_with_options(&mut out, object, options.clone())?;
    }
    Ok(out)
}

/// [`build`] then [`to_yaml`].
pub fn render(inputs: &Inputs) -> Result<String, ManifestError> {
    to_yaml(&build(inputs)?)
}

/// The bytes the ConfigMap holds: the plan and its data files (what its limit counts).
pub fn plans_bytes(inputs: &Inputs) -> u64 {
    std::iter::once(&inputs.plan)
        .chain(&inputs.data)
        .map(|f| f.text.len() as u64)
        .sum()
}

fn check(inputs: &Inputs) -> Result<(), ManifestError> {
    let invalid = |field| move |reason| ManifestError::Invalid { field, reason };
    names::check_name(&inputs.name).map_err(invalid("name"))?;
    if let Some(ns) = &inputs.namespace {
        names::check_namespace(ns).map_err(invalid("namespace"))?;
    }
    names::check_image(&inputs.image).map_err(invalid("image"))?;
    check_agents(inputs.agents).map_err(invalid("agents"))?;
    names::check_token(&inputs.token).map_err(invalid("token"))?;
    names::check_token(&inputs.agent_token).map_err(invalid("agent-token"))?;
    names::check_quantity(&inputs.agent_cpu).map_err(invalid("cpu"))?;
    names::check_quantity(&inputs.agent_memory).map_err(invalid("memory"))?;
    let bytes = plans_bytes(inputs);
    if bytes > CONFIGMAP_MAX_BYTES {
        return Err(ManifestError::TooLarge { bytes });
    }
    Ok(())
}

/// `--agents`: 1 to [`MAX_AGENTS`].
pub fn check_agents(n: u32) -> Result<(), String> {
    if (1..=MAX_AGENTS).contains(&n) {
        Ok(())
    } else {
        Err(format!(
            "the number of agents must be from 1 to {MAX_AGENTS}, got {n}"
        ))
    }
}

/// The objects' names and labels, derived once from `--name`.
struct Names {
    name: String,
    namespace: Option<String>,
    agents: String,
    plans: String,
}

#[derive(Clone, Copy)]
enum Component {
    Coordinator,
    Agent,
}

impl Names {
    fn new(name: &str, namespace: Option<&str>) -> Names {
        Names {
            name: name.to_string(),
            namespace: namespace.map(str::to_string),
            agents: format!("{name}-agents"),
            plans: format!("{name}-plans"),
        }
    }

    /// The labels of everything of this run; `component` for the pods' selectors.
    fn labels(&self, component: Option<Component>) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), "hornet".to_string()),
            ("app.kubernetes.io/instance".to_string(), self.name.clone()),
        ]);
        if let Some(c) = component {
            let c = match c {
                Component::Coordinator => "coordinator",
                Component::Agent => "agent",
            };
            labels.insert("app.kubernetes.io/component".into(), c.into());
        }
        labels
    }

    fn meta(&self, name: &str, component: Option<Component>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: self.namespace.clone(),
            labels: Some(self.labels(component)),
            ..ObjectMeta::default()
        }
    }

    /// The agents' WebSocket endpoint on the coordinator's Service (same namespace).
    fn coordinator_url(&self) -> String {
        format!("ws://{}:{PORT}/api/agents", self.name)
    }
}

fn secret(names: &Names, inputs: &Inputs) -> Secret {
    Secret {
        metadata: names.meta(&names.name, None),
        type_: Some("Opaque".into()),
        string_data: Some(BTreeMap::from([
            (TOKEN_KEY.to_string(), inputs.token.clone()),
            (AGENT_TOKEN_KEY.to_string(), inputs.agent_token.clone()),
        ])),
        ..Secret::default()
    }
}

/// The plan and its data files under keys a ConfigMap accepts, and the mount items that put
/// each key back at the path the plan names it by. A file named twice is stored once.
fn plans_config_map(names: &Names, inputs: &Inputs) -> (ConfigMap, Vec<KeyToPath>) {
    let mut data = BTreeMap::new();
    let mut items = Vec::new();
    let mut taken = BTreeSet::new();
    let mut paths = BTreeSet::new();
    for file in std::iter::once(&inputs.plan).chain(&inputs.data) {
        if !paths.insert(file.path.as_str()) {
            continue;
        }
        let key = names::configmap_key(&file.path, &taken);
        taken.insert(key.clone());
        data.insert(key.clone(), file.text.clone());
        items.push(KeyToPath {
            key,
            path: file.path.clone(),
            mode: None,
        });
    }
    let config_map = ConfigMap {
        metadata: names.meta(&names.plans, None),
        data: Some(data),
        ..ConfigMap::default()
    };
    (config_map, items)
}

fn secret_env(names: &Names, var: &str, key: &str) -> EnvVar {
    EnvVar {
        name: var.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: names.name.clone(),
                key: key.into(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn env(var: &str, value: &str) -> EnvVar {
    EnvVar {
        name: var.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

fn quantities(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), Quantity(cpu.to_string())),
        ("memory".to_string(), Quantity(memory.to_string())),
    ])
}

/// Neither process needs privileges: it listens on a high port or only dials out.
fn unprivileged() -> Option<SecurityContext> {
    Some(SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        ..SecurityContext::default()
    })
}

/// What both pod templates share. Service links are off: Kubernetes would otherwise put
/// `HORNET_PORT`, `HORNET_SERVICE_HOST`... in every pod for the Service called `hornet`, in
/// the `HORNET_*` namespace Hornet reads its settings from. Hornet does not call the API.
fn pod_spec(containers: Vec<Container>) -> PodSpec {
    PodSpec {
        containers,
        enable_service_links: Some(false),
        automount_service_account_token: Some(false),
        ..PodSpec::default()
    }
}

fn coordinator(names: &Names, inputs: &Inputs, items: Vec<KeyToPath>) -> Deployment {
    let labels = names.labels(Some(Component::Coordinator));
    let container = Container {
        name: "coordinator".into(),
        image: Some(inputs.image.clone()),
        args: Some(
            [
                "serve",
                "--bind",
                &format!("0.0.0.0:{PORT}"),
                "--plans",
                PLANS_DIR,
                "--no-demo-target",
            ]
            .map(String::from)
            .to_vec(),
        ),
        env: Some(vec![
            secret_env(names, "HORNET_TOKEN", TOKEN_KEY),
            secret_env(names, "HORNET_AGENT_TOKEN", AGENT_TOKEN_KEY),
            env("HORNET_DB", "/data/hornet.db"),
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: PORT,
            ..ContainerPort::default()
        }]),
        // `/ready`: the database is open and the plans were read (`web/mod.rs`); it needs no
        // token. `/health` answers as soon as the server listens.
        readiness_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/ready".into()),
                port: IntOrString::String("http".into()),
                ..HTTPGetAction::default()
            }),
            period_seconds: Some(5),
            ..Probe::default()
        }),
        // Requests only: the coordinator merges every agent's histograms; being throttled
        // or killed at a limit would lose the run.
        resources: Some(ResourceRequirements {
            requests: Some(quantities("500m", "512Mi")),
            ..ResourceRequirements::default()
        }),
        security_context: unprivileged(),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "data".into(),
                mount_path: "/data".into(),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "plans".into(),
                mount_path: PLANS_DIR.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
        ]),
        ..Container::default()
    };
    let mut spec = pod_spec(vec![container]);
    spec.volumes = Some(vec![
        // The history lives as long as the pod: read the results (or download the reports)
        // from the UI before deleting it.
        Volume {
            name: "data".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
        Volume {
            name: "plans".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: names.plans.clone(),
                items: Some(items),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
    ]);
    Deployment {
        metadata: names.meta(&names.name, Some(Component::Coordinator)),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..LabelSelector::default()
            },
            // One coordinator at a time: two would split the agents between them.
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                rolling_update: None,
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(spec),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn coordinator_service(names: &Names) -> Service {
    Service {
        metadata: names.meta(&names.name, Some(Component::Coordinator)),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(names.labels(Some(Component::Coordinator))),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: PORT,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// Gives each agent pod a DNS name, `NAME-agents-INDEX.NAME-agents` (the pods' `subdomain`).
fn agents_service(names: &Names) -> Service {
    Service {
        metadata: names.meta(&names.agents, Some(Component::Agent)),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(names.labels(Some(Component::Agent))),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn agents_job(names: &Names, inputs: &Inputs) -> Job {
    let labels = names.labels(Some(Component::Agent));
    let n = i32::try_from(inputs.agents).unwrap_or(i32::MAX);
    let container = Container {
        name: "agent".into(),
        image: Some(inputs.image.clone()),
        // Kubernetes sets JOB_COMPLETION_INDEX in each pod; the agent takes its index from it.
        args: Some(vec![
            "agent".into(),
            "--coordinator".into(),
            names.coordinator_url(),
            "--count".into(),
            inputs.agents.to_string(),
        ]),
        env: Some(vec![secret_env(
            names,
            "HORNET_AGENT_TOKEN",
            AGENT_TOKEN_KEY,
        )]),
        resources: Some(ResourceRequirements {
            requests: Some(quantities(&inputs.agent_cpu, &inputs.agent_memory)),
            limits: Some(quantities(&inputs.agent_cpu, &inputs.agent_memory)),
            ..ResourceRequirements::default()
        }),
        security_context: unprivileged(),
        ..Container::default()
    };
    let mut spec = pod_spec(vec![container]);
    spec.restart_policy = Some("Never".into());
    spec.subdomain = Some(names.agents.clone());
    // One agent per node where the cluster has enough of them: agents on one node share its
    // CPU and network, the very things a load generator runs out of.
    spec.topology_spread_constraints = Some(vec![TopologySpreadConstraint {
        max_skew: 1,
        topology_key: "kubernetes.io/hostname".into(),
        when_unsatisfiable: "ScheduleAnyway".into(),
        label_selector: Some(LabelSelector {
            match_labels: Some(labels.clone()),
            ..LabelSelector::default()
        }),
        ..TopologySpreadConstraint::default()
    }]);
    Job {
        metadata: names.meta(&names.agents, Some(Component::Agent)),
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".into()),
            completions: Some(n),
            parallelism: Some(n),
            // An agent that fails is not started again (a new one would join a run already
            // under way); the others go on and the run is marked degraded. With a per-index
            // limit, Kubernetes defaults `backoffLimit` to the maximum and leaves
            // `maxFailedIndexes` unset (no cap), which is what we want: it only requires
            // `maxFailedIndexes` above 100 000 completions.
            backoff_limit_per_index: Some(0),
            ttl_seconds_after_finished: Some(JOB_TTL_SECONDS),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(spec),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            name: "load".into(),
            namespace: None,
            image: "registry.example.com/hornet:1".into(),
            agents: 7,
            token: "ui-token".into(),
            agent_token: "agent-token".into(),
            agent_cpu: "2".into(),
            agent_memory: "1Gi".into(),
            plan: PlanFile {
                path: "shop.toml".into(),
                text: "name = \"shop\"\n".into(),
            },
            data: vec![
                PlanFile {
                    path: "data/users.csv".into(),
                    text: "user\nann\n".into(),
                },
                PlanFile {
                    path: "extra/users.csv".into(),
                    text: "user\nbob\n".into(),
                },
            ],
        }
    }

    fn job(objects: &[Object]) -> &Job {
        objects
            .iter()
            .find_map(|o| match o {
                Object::Job(j) => Some(j.as_ref()),
                _ => None,
            })
            .expect("a Job")
    }

    fn deployment(objects: &[Object]) -> &Deployment {
        objects
            .iter()
            .find_map(|o| match o {
                Object::Deployment(d) => Some(d.as_ref()),
                _ => None,
            })
            .expect("a Deployment")
    }

    fn kinds(objects: &[Object]) -> Vec<(&'static str, String)> {
        objects
            .iter()
            .map(|o| {
                let (kind, meta) = match o {
                    Object::Namespace(x) => ("Namespace", &x.metadata),
                    Object::Secret(x) => ("Secret", &x.metadata),
                    Object::ConfigMap(x) => ("ConfigMap", &x.metadata),
                    Object::Deployment(x) => ("Deployment", &x.metadata),
                    Object::Service(x) => ("Service", &x.metadata),
                    Object::Job(x) => ("Job", &x.metadata),
                };
                (kind, meta.name.clone().unwrap_or_default())
            })
            .collect()
    }

    #[test]
    fn the_agents_are_an_indexed_job_of_n_pods_never_retried() {
        let objects = build(&inputs()).unwrap();
        let spec = job(&objects).spec.as_ref().unwrap();
        assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
        assert_eq!((spec.completions, spec.parallelism), (Some(7), Some(7)));
        assert_eq!(spec.backoff_limit_per_index, Some(0));
        assert_eq!((spec.backoff_limit, spec.max_failed_indexes), (None, None));
        assert_eq!(spec.ttl_seconds_after_finished, Some(JOB_TTL_SECONDS));
        let pod = spec.template.spec.as_ref().unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.subdomain.as_deref(), Some("load-agents"));
        let spread = &pod.topology_spread_constraints.as_ref().unwrap()[0];
        assert_eq!(
            (
                spread.max_skew,
                spread.topology_key.as_str(),
                spread.when_unsatisfiable.as_str()
            ),
            (1, "kubernetes.io/hostname", "ScheduleAnyway")
        );
        let selected = spread
            .label_selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref();
        assert_eq!(
            selected.unwrap()["app.kubernetes.io/component"],
            "agent",
            "spreads the agents only"
        );
    }

    #[test]
    fn agents_dial_the_coordinator_service_by_its_name() {
        let objects = build(&inputs()).unwrap();
        let pod = job(&objects).spec.as_ref().unwrap().template.spec.clone();
        let agent = &pod.unwrap().containers[0];
        assert_eq!(
            agent.args.as_deref().unwrap(),
            [
                "agent",
                "--coordinator",
                "ws://load:8089/api/agents",
                "--count",
                "7"
            ]
        );
        let env = agent.env.as_ref().unwrap();
        assert_eq!(env.len(), 1);
        assert_eq!(env[0].name, "HORNET_AGENT_TOKEN");
        let from = env[0].value_from.as_ref().unwrap().secret_key_ref.as_ref();
        assert_eq!(
            from.map(|s| (s.name.as_str(), s.key.as_str())),
            Some(("load", "agent-token"))
        );
        let resources = agent.resources.as_ref().unwrap();
        let expected = quantities("2", "1Gi");
        assert_eq!(resources.requests.as_ref(), Some(&expected));
        assert_eq!(resources.limits.as_ref(), Some(&expected));
        // The coordinator's Service answers at that name, on that port.
        let services: Vec<_> = objects
            .iter()
            .filter_map(|o| match o {
                Object::Service(s) => Some(s),
                _ => None,
            })
            .collect();
        assert_eq!(services[0].metadata.name.as_deref(), Some("load"));
        let port = &services[0].spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
        assert_eq!(port.port, 8089);
        assert_eq!(
            services[1].spec.as_ref().unwrap().cluster_ip.as_deref(),
            Some("None"),
            "the agents' Service is headless"
        );
    }

    #[test]
    fn the_config_map_puts_each_file_at_the_path_the_plan_uses() {
        let objects = build(&inputs()).unwrap();
        let Some(Object::ConfigMap(cm)) = objects.get(1) else {
            panic!("{:?}", kinds(&objects))
        };
        let data = cm.data.as_ref().unwrap();
        assert_eq!(
            data.iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            [
                ("shop.toml", "name = \"shop\"\n"),
                ("users-2.csv", "user\nbob\n"),
                ("users.csv", "user\nann\n"),
            ]
        );
        let pod = deployment(&objects)
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .clone()
            .unwrap();
        let volume = &pod.volumes.as_ref().unwrap()[1];
        let source = volume.config_map.as_ref().unwrap();
        assert_eq!(source.name, "load-plans");
        let items: Vec<_> = source
            .items
            .as_ref()
            .unwrap()
            .iter()
            .map(|i| (i.key.as_str(), i.path.as_str()))
            .collect();
        assert_eq!(
            items,
            [
                ("shop.toml", "shop.toml"),
                ("users.csv", "data/users.csv"),
                ("users-2.csv", "extra/users.csv"),
            ]
        );
        let mount = &pod.containers[0].volume_mounts.as_ref().unwrap()[1];
        assert_eq!(
            (
                mount.name.as_str(),
                mount.mount_path.as_str(),
                mount.read_only
            ),
            ("plans", "/plans", Some(true))
        );
    }

    #[test]
    fn a_file_named_twice_is_stored_once() {
        let mut i = inputs();
        i.data[1] = i.data[0].clone();
        let objects = build(&i).unwrap();
        let Some(Object::ConfigMap(cm)) = objects.get(1) else {
            panic!()
        };
        assert_eq!(cm.data.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn the_coordinator_serves_the_mounted_plans_with_both_tokens() {
        let objects = build(&inputs()).unwrap();
        let d = deployment(&objects).spec.as_ref().unwrap();
        assert_eq!(d.replicas, Some(1));
        let c = &d.template.spec.as_ref().unwrap().containers[0];
        assert_eq!(
            c.args.as_deref().unwrap(),
            [
                "serve",
                "--bind",
                "0.0.0.0:8089",
                "--plans",
                "/plans",
                "--no-demo-target"
            ]
        );
        let env: Vec<_> = c.env.as_ref().unwrap().iter().map(|e| &e.name).collect();
        assert_eq!(env, ["HORNET_TOKEN", "HORNET_AGENT_TOKEN", "HORNET_DB"]);
        let probe = c.readiness_probe.as_ref().unwrap().http_get.as_ref();
        assert_eq!(probe.unwrap().path.as_deref(), Some("/ready"));
    }

    #[test]
    fn objects_in_order_with_a_namespace_when_asked() {
        let mut i = inputs();
        assert_eq!(
            kinds(&build(&i).unwrap()),
            [
                ("Secret", "load".to_string()),
                ("ConfigMap", "load-plans".into()),
                ("Deployment", "load".into()),
                ("Service", "load".into()),
                ("Service", "load-agents".into()),
                ("Job", "load-agents".into()),
            ]
        );
        i.namespace = Some("perf".into());
        let objects = build(&i).unwrap();
        assert_eq!(kinds(&objects)[0], ("Namespace", "perf".to_string()));
        assert_eq!(
            job(&objects).metadata.namespace.as_deref(),
            Some("perf"),
            "namespaced objects carry it"
        );
    }

    #[test]
    fn bad_inputs_name_their_flag() {
        let err = |f: fn(&mut Inputs)| {
            let mut i = inputs();
            f(&mut i);
            build(&i).unwrap_err().to_string()
        };
        assert!(err(|i| i.agents = 0).starts_with("--agents: "));
        assert!(err(|i| i.agents = 1001).contains("from 1 to 1000, got 1001"));
        assert!(err(|i| i.name = "Load".into()).starts_with("--name: "));
        assert!(err(|i| i.namespace = Some("a_b".into())).starts_with("--namespace: "));
        assert!(err(|i| i.image = String::new()).starts_with("--image: "));
        assert!(err(|i| i.agent_memory = "1GB".into()).starts_with("--memory: "));
        assert!(err(|i| i.token = "a b".into()).starts_with("--token: "));
    }

    #[test]
    fn more_than_a_config_map_holds_is_refused_with_the_size() {
        let mut i = inputs();
        i.data[0].text = "x".repeat(CONFIGMAP_MAX_BYTES as usize);
        let e = build(&i).unwrap_err().to_string();
        let total = plans_bytes(&i);
        assert!(total > CONFIGMAP_MAX_BYTES);
        assert!(
            e.starts_with(&format!(
                "the plan and its data files come to 1.0 MiB ({total} bytes), more than the 1 \
                 MiB a ConfigMap holds"
            )),
            "{e}"
        );
        let over = (total - CONFIGMAP_MAX_BYTES) as usize;
        let fits = i.data[0].text.len() - over;
        i.data[0].text.truncate(fits);
        assert_eq!(plans_bytes(&i), CONFIGMAP_MAX_BYTES);
        assert!(build(&i).is_ok(), "exactly the limit fits");
    }

    #[test]
    fn strings_a_yaml_1_1_reader_would_misread_are_quoted() {
        // kubectl reads YAML 1.1: a bare `no` is false, `on` true, `1_000` a number.
        let mut i = inputs();
        i.name = "no".into();
        i.namespace = Some("on".into());
        i.token = "1_000".into();
        i.agent_token = "0777".into();
        let yaml = render(&i).unwrap();
        assert!(
            yaml.contains("\n    app.kubernetes.io/instance: \"no\"\n"),
            "{yaml}"
        );
        assert!(yaml.contains("\n  name: \"on\"\n"), "{yaml}");
        assert!(yaml.contains("\n  token: \"1_000\"\n"), "{yaml}");
        assert!(yaml.contains("\n  agent-token: \"0777\"\n"), "{yaml}");
        assert!(
            yaml.contains("\n        - \"7\"\n"),
            "the count is a string arg"
        );
    }

    #[test]
    fn files_are_literal_blocks_and_long_lines_stay_whole() {
        let mut i = inputs();
        let long = format!("user,note\nann,{}\n", "word ".repeat(40).trim_end());
        i.data[0].text = long.clone();
        let yaml = render(&i).unwrap();
        let block = format!(
            "  users.csv: |\n{}",
            long.lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        );
        assert!(yaml.contains(&block), "{yaml}");
    }

    #[test]
    fn yaml_is_one_document_per_object() {
        let yaml = render(&inputs()).unwrap();
        assert_eq!(yaml.matches("---\n").count(), 6);
        assert!(
            yaml.starts_with("---\napiVersion: v1\nkind: Secret\n"),
            "{yaml}"
        );
        assert!(yaml.contains("\napiVersion: batch/v1\nkind: Job\n"));
    }
}
