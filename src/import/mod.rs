//! `hornet import har|openapi|curl` and `POST /api/import`: what a user already has (a browser
//! recording, an API description, a copied `curl` line) turned into plan text. Pure: input text
//! in, plan text out; reading files, fetching URLs and writing plans happen at the CLI and web
//! edges. Each importer builds a [`plan_writer::PlanDoc`]; the writer owns the TOML.
//!
//! Shared rules: `headers.rs` decides which request headers a plan keeps and which become
//! `env()` variables (never a pasted secret in the plan), `paths.rs` groups concrete paths into
//! one stats name per template (`/tools/{id}`).

pub mod curl;
pub mod har;
mod headers;
pub mod openapi;
mod paths;
mod plan_writer;

use std::fmt;

/// What is imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportKind {
    Har,
    OpenApi,
    Curl,
}

impl ImportKind {
    pub const NAMES: &'static str = "har, openapi or curl";

    pub fn parse(s: &str) -> Option<ImportKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "har" => Some(ImportKind::Har),
            "openapi" | "swagger" => Some(ImportKind::OpenApi),
            "curl" => Some(ImportKind::Curl),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::Har => "har",
            ImportKind::OpenApi => "openapi",
            ImportKind::Curl => "curl",
        }
    }
}

/// How to import, the same from the CLI and the API.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The plan's host instead of the one found in the input.
    pub host: Option<String>,
    /// The plan's name instead of one made from the source.
    pub name: Option<String>,
    /// HAR: keep images, style sheets, scripts and fonts.
    pub keep_static: bool,
    /// Where the input came from (a file name, a URL, "pasted"), for the plan's comments.
    pub source: String,
    /// OpenAPI: the URL the document was fetched from, to resolve a relative `servers` URL.
    pub base_url: Option<String>,
}

/// Why an input could not become a plan. `field` names what was wrong for the API (`content`,
/// `host`, ...); the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ImportError {
    pub field: &'static str,
    pub message: String,
}

impl ImportError {
    pub(crate) fn content(message: impl Into<String>) -> ImportError {
        ImportError {
            field: "content",
            message: message.into(),
        }
    }
}

/// An imported plan: its TOML text and the environment variables it reads for secrets.
#[derive(Debug, Clone)]
pub struct Imported {
    pub text: String,
    pub env_vars: Vec<String>,
}

impl fmt::Display for Imported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Turns `input` of `kind` into plan text.
pub fn import(
    kind: ImportKind,
    input: &str,
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    let mut doc = match kind {
        ImportKind::Har => har::import(input, opts)?,
        ImportKind::OpenApi => openapi::import(input, opts)?,
        ImportKind::Curl => curl::import(input, opts)?,
    };
    if let Some(host) = &opts.host {
        doc.host = normalize_host(host)?;
    }
    if let Some(name) = opts
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        doc.name = name.to_string();
    }
    Ok(Imported {
        env_vars: doc.env_vars(),
        text: doc.to_toml(),
    })
}

/// `--host`: an `http(s)://host[:port]` origin (a trailing `/` dropped; a path is refused:
/// the plan's paths are absolute).
fn normalize_host(host: &str) -> Result<String, ImportError> {
    let bad = |why: &str| ImportError {
        field: "host",
        message: format!(
            "host must be an http(s) URL like http://127.0.0.1:8090 ({why}), got {host:?}"
        ),
    };
    let url = url::Url::parse(host.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad("not http or https"));
    }
    if url.path() != "/" || url.query().is_some() {
        return Err(bad("no path"));
    }
    Ok(paths::origin_of(&url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_name_override_what_was_found() {
        let opts = ImportOptions {
            host: Some("http://10.0.0.9:4444/".into()),
            name: Some("Mine".into()),
            source: "pasted".into(),
            ..ImportOptions::default()
        };
        let out = import(
            ImportKind::Curl,
            "curl https://api.example.com/tools",
            &opts,
        )
        .unwrap();
        assert!(
            out.text.contains("host = \"http://10.0.0.9:4444\""),
            "{out}"
        );
        assert!(out.text.contains("name = \"Mine\""), "{out}");
        let bad = ImportOptions {
            host: Some("http://x/api".into()),
            ..ImportOptions::default()
        };
        let err = import(ImportKind::Curl, "curl http://a/b", &bad).unwrap_err();
        assert_eq!(err.field, "host");
    }

    #[test]
    fn kinds_parse_by_name() {
        assert_eq!(ImportKind::parse("HAR"), Some(ImportKind::Har));
        assert_eq!(ImportKind::parse("openapi"), Some(ImportKind::OpenApi));
        assert_eq!(ImportKind::parse("curl"), Some(ImportKind::Curl));
        assert_eq!(ImportKind::parse("postman"), None);
    }
}
