//! `hornet import har|openapi|curl SOURCE`: reads the file (or fetches the URL, or takes the
//! command line itself), calls the pure importer, checks the plan as `hornet check` would and
//! writes it to stdout or `-o FILE` (never over an existing file without `--force`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{EXIT_BAD_INPUT, EXIT_OK};
use crate::import::{self, ImportKind, ImportOptions};
use crate::plan;
use crate::protocols::http_client::{HttpShared, OriginInfo, Outgoing, Target, UserHttp};

/// An OpenAPI document larger than this is refused (the largest public ones are a few MB).
pub const MAX_IMPORT_BYTES: u64 = 32 * 1024 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KindArg {
    /// A browser recording (DevTools: "Save all as HAR").
    Har,
    /// An OpenAPI 3.0/3.1 document, JSON or YAML, from a file or an http(s) URL.
    Openapi,
    /// A curl command line (quote it), or `-` to read it from stdin.
    Curl,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// What SOURCE is.
    #[arg(value_enum)]
    pub kind: KindArg,
    /// har: a file; openapi: a file or an http(s) URL; curl: the command line (or `-`: stdin).
    pub source: String,
    /// Write the plan to FILE instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// With -o: replace FILE if it exists.
    #[arg(long, requires = "output")]
    pub force: bool,
    /// The plan's host instead of the one found in SOURCE, e.g. http://127.0.0.1:8090.
    #[arg(long, value_name = "URL")]
    pub host: Option<String>,
    /// The plan's name.
    #[arg(long)]
    pub name: Option<String>,
    /// har: keep images, style sheets, scripts and fonts (dropped by default).
    #[arg(long = "keep-static")]
    pub keep_static: bool,
}

impl KindArg {
    fn kind(self) -> ImportKind {
        match self {
            KindArg::Har => ImportKind::Har,
            KindArg::Openapi => ImportKind::OpenApi,
            KindArg::Curl => ImportKind::Curl,
        }
    }
}

pub(super) async fn run(args: ImportArgs) -> anyhow::Result<i32> {
    let kind = args.kind.kind();
    let (input, source, base_url) = match read_source(kind, &args.source).await {
        Ok(read) => read,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let opts = ImportOptions {
        host: args.host.clone(),
        name: args.name.clone(),
        keep_static: args.keep_static,
        source,
        base_url,
    };
    let imported = match import::import(kind, &input, &opts) {
        Ok(imported) => imported,
        Err(e) => {
            let what = if e.field == "content" {
                args.source.clone()
            } else {
                format!("--{}", e.field)
            };
            eprintln!("error: {what}: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let file = args
        .output
        .as_ref()
        .map_or_else(|| "imported.toml".to_string(), |p| p.display().to_string());
    let plan = match plan::parse_str(&imported.text, &file, None) {
        Ok(plan) => plan,
        Err(errors) => {
            // The importer's own mistake: say so rather than write a plan that fails later.
            eprintln!("error: the imported plan does not validate (please report):\n{errors}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    match &args.output {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(imported.text.as_bytes())?;
            out.flush()?;
        }
        Some(path) => {
            if let Err(message) = write_plan(path, &imported.text, args.force) {
                eprintln!("error: {message}");
                return Ok(EXIT_BAD_INPUT);
            }
            let tasks: usize = plan.users.iter().map(|c| c.tasks.len()).sum();
            eprintln!(
                "wrote {} ({tasks} tasks, host {})",
                path.display(),
                plan.host.as_deref().unwrap_or("none")
            );
        }
    }
    if !imported.env_vars.is_empty() {
        eprintln!(
            "the plan reads its secrets from the environment: {} (see its comments)",
            imported.env_vars.join(", ")
        );
    }
    Ok(EXIT_OK)
}

/// The input text, how the plan's comment names it, and the URL it came from (OpenAPI).
async fn read_source(
    kind: ImportKind,
    source: &str,
) -> Result<(String, String, Option<String>), String> {
    if kind == ImportKind::Curl {
        let text = if source == "-" {
            std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
        } else {
            source.to_string()
        };
        return Ok((text, "a curl command".into(), None));
    }
    if kind == ImportKind::OpenApi
        && (source.starts_with("http://") || source.starts_with("https://"))
    {
        let text = fetch(source).await?;
        return Ok((text, source.to_string(), Some(source.to_string())));
    }
    let path = Path::new(source);
    let text = read_file(path)?;
    let label = path
        .file_name()
        .map_or_else(|| source.to_string(), |n| n.to_string_lossy().into_owned());
    Ok((text, label, None))
}

fn read_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    if meta.len() > MAX_IMPORT_BYTES {
        return Err(format!(
            "{}: {} bytes, more than the {MAX_IMPORT_BYTES} an import reads",
            path.display(),
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))
}

/// GET `url` with Hornet's own client (redirects followed, TLS verified), within 30 s.
async fn fetch(url: &str) -> Result<String, String> {
    let origin = OriginInfo::parse(url).map_err(|e| format!("{url}: {e}"))?;
    let target = Target::join(&origin, url).map_err(|e| format!("{url}: {e}"))?;
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json, application/yaml, text/yaml, */*"),
    );
    let mut client = UserHttp::new(HttpShared::new());
    let request = Outgoing {
        method: http::Method::GET,
        target,
        headers,
        body: bytes::Bytes::new(),
    };
    let response = tokio::time::timeout(
        FETCH_TIMEOUT,
        client.send(request, Some(MAX_IMPORT_BYTES), true),
    )
    .await
    .map_err(|_| format!("{url}: no answer within {}s", FETCH_TIMEOUT.as_secs()))?
    .map_err(|e| format!("{url}: {e}"))?;
    if response.over_limit {
        return Err(format!("{url}: more than {MAX_IMPORT_BYTES} bytes"));
    }
    if !response.status.is_success() {
        return Err(format!("{url}: HTTP {}", response.status));
    }
    String::from_utf8(response.body.to_vec()).map_err(|_| format!("{url}: not UTF-8 text"))
}

/// Writes `text` to `path`; an existing file only with `force`.
fn write_plan(path: &Path, text: &str, force: bool) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!("{} exists; --force replaces it", path.display())
        } else {
            format!("{}: {e}", path.display())
        }
    })?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}
