//! Which recorded request headers a plan keeps. Kept: what the server reads (Content-Type,
//! Accept other than `*/*`, custom `X-*`, `HX-*`, `MCP-*` ...). Dropped: what the browser or the
//! HTTP client adds by itself (User-Agent, Accept-Encoding, `Sec-*`, Referer, Origin,
//! Connection, Content-Length, Host, HTTP/2 `:pseudo` headers, caching validators) and cookies
//! the server set itself (the user's cookie jar sends those). Credentials (Authorization, API
//! keys, cookies the recording brought along) become `[vars]` read from the environment: the
//! plan never holds the pasted secret.

use std::collections::HashSet;

use super::plan_writer::{literal, PlanDoc, Secret};

/// Headers the client or the browser adds by itself; lowercase.
const NOISE: &[&str] = &[
    "user-agent",
    "accept-encoding",
    "accept-language",
    "referer",
    "origin",
    "connection",
    "keep-alive",
    "content-length",
    "host",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "upgrade-insecure-requests",
    "cache-control",
    "pragma",
    "if-none-match",
    "if-modified-since",
    "priority",
    "dnt",
    "purpose",
    "proxy-connection",
    "x-requested-with",
    // A recorded MCP session is over: a run's rpc steps open and keep their own.
    "mcp-session-id",
];

/// Headers that carry an API key or a token other than Authorization; lowercase.
const KEY_HEADERS: &[&str] = &[
    "x-api-key",
    "api-key",
    "apikey",
    "x-auth-token",
    "x-access-token",
    "private-token",
    "x-token",
];

/// The headers of one request to keep, in order, as templates; credentials replaced by
/// variables added to `doc`. `server_cookies`: names of cookies the server set earlier.
pub(crate) fn keep(
    headers: &[(String, String)],
    server_cookies: &HashSet<String>,
    doc: &mut PlanDoc,
) -> Vec<(String, String)> {
    let mut kept: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let lower = name.trim().to_ascii_lowercase();
        if lower.starts_with(':') || lower.starts_with("sec-") || NOISE.contains(&lower.as_str()) {
            continue;
        }
        let value = value.trim();
        let kept_value = match lower.as_str() {
            "accept" if value == "*/*" || value.is_empty() => continue,
            "authorization" => authorization(value, doc),
            "cookie" => match cookie(value, server_cookies, doc) {
                Some(v) => v,
                None => continue,
            },
            key if KEY_HEADERS.contains(&key) => {
                let var = doc.add_secret(api_key_secret(key));
                format!("{{{{ {var} }}}}")
            }
            _ => literal(value),
        };
        let name = canonical(name.trim());
        // HTTP/2 recordings may repeat a header (cookie crumbs); one line is enough.
        if !kept.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
            kept.push((name, kept_value));
        }
    }
    kept
}

/// `Authorization: <scheme> <credentials>` as a template reading the credentials from a var.
pub(crate) fn authorization(value: &str, doc: &mut PlanDoc) -> String {
    let scheme = value.split_whitespace().next().unwrap_or("");
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => {
            let var = doc.add_secret(bearer_secret(String::new()));
            format!("Bearer {{{{ {var} }}}}")
        }
        "basic" => {
            let var = doc.add_secret(basic_secret());
            format!("Basic {{{{ {var} }}}}")
        }
        _ => {
            let var = doc.add_secret(Secret {
                var: "authorization".into(),
                env: "API_AUTHORIZATION".into(),
                default: String::new(),
                what: "the whole Authorization header value".into(),
            });
            format!("{{{{ {var} }}}}")
        }
    }
}

pub(crate) fn bearer_secret(default: String) -> Secret {
    Secret {
        var: "token".into(),
        env: "API_TOKEN".into(),
        default,
        what: "the bearer token (Authorization: Bearer ...)".into(),
    }
}

pub(crate) fn basic_secret() -> Secret {
    Secret {
        var: "basic_auth".into(),
        env: "API_BASIC_AUTH".into(),
        default: String::new(),
        what:
            "base64 of user:password (Authorization: Basic ...), e.g. $(printf user:pass | base64)"
                .into(),
    }
}

/// The variable of an API-key header: `x-api-key` → `api_key` / `API_KEY`, other names
/// after themselves (`x-auth-token` → `x_auth_token` / `X_AUTH_TOKEN`).
pub(crate) fn api_key_secret(header: &str) -> Secret {
    let lower = header.to_ascii_lowercase();
    let var = match lower.as_str() {
        "x-api-key" | "api-key" | "apikey" => "api_key".to_string(),
        other => other
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect(),
    };
    Secret {
        env: var.to_ascii_uppercase(),
        what: format!("the API key sent as {}", canonical(header)),
        var,
        default: String::new(),
    }
}

/// A `Cookie` header without the cookies the server set itself; what is left (a session the
/// recording brought along) is a secret read from `API_COOKIE`.
fn cookie(value: &str, server_cookies: &HashSet<String>, doc: &mut PlanDoc) -> Option<String> {
    let foreign = value
        .split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .any(|c| {
            let name = c.split('=').next().unwrap_or("").trim();
            !server_cookies.contains(name)
        });
    if !foreign {
        return None;
    }
    let var = doc.add_secret(cookie_secret());
    Some(format!("{{{{ {var} }}}}"))
}

pub(crate) fn cookie_secret() -> Secret {
    Secret {
        var: "cookie".into(),
        env: "API_COOKIE".into(),
        default: String::new(),
        what: "the Cookie header value (name=value; ...) of a logged-in session".into(),
    }
}

/// `content-type` → `Content-Type`: how people write them (HTTP/2 recordings are lowercase).
pub(crate) fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn browser_noise_goes_and_what_the_server_reads_stays() {
        let mut doc = PlanDoc::default();
        let kept = keep(
            &h(&[
                (":authority", "127.0.0.1:8090"),
                ("user-agent", "Mozilla/5.0"),
                ("accept-encoding", "gzip, br"),
                ("sec-fetch-mode", "cors"),
                ("Referer", "http://127.0.0.1:8090/admin/"),
                ("origin", "http://127.0.0.1:8090"),
                ("Connection", "keep-alive"),
                ("content-length", "12"),
                ("Host", "127.0.0.1:8090"),
                ("accept", "*/*"),
                ("content-type", "application/json"),
                ("hx-request", "true"),
                ("X-Team", "blue"),
                ("mcp-protocol-version", "2025-06-18"),
            ]),
            &HashSet::new(),
            &mut doc,
        );
        assert_eq!(
            kept,
            h(&[
                ("Content-Type", "application/json"),
                ("Hx-Request", "true"),
                ("X-Team", "blue"),
                ("Mcp-Protocol-Version", "2025-06-18"),
            ])
        );
        assert!(doc.vars.is_empty());
        let accept = keep(
            &h(&[("Accept", "application/json")]),
            &HashSet::new(),
            &mut doc,
        );
        assert_eq!(accept, h(&[("Accept", "application/json")]));
    }

    #[test]
    fn secrets_become_env_vars_and_never_stay() {
        let mut doc = PlanDoc::default();
        let kept = keep(
            &h(&[
                ("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig"),
                ("X-API-Key", "k-123"),
            ]),
            &HashSet::new(),
            &mut doc,
        );
        assert_eq!(
            kept,
            h(&[
                ("Authorization", "Bearer {{ token }}"),
                ("X-Api-Key", "{{ api_key }}")
            ])
        );
        let envs: Vec<&str> = doc.vars.iter().map(|s| s.env.as_str()).collect();
        assert_eq!(envs, ["API_TOKEN", "API_KEY"]);
        assert!(doc.vars.iter().all(|s| s.default.is_empty()));
        let basic = keep(
            &h(&[("authorization", "Basic dTpw")]),
            &HashSet::new(),
            &mut doc,
        );
        assert_eq!(basic, h(&[("Authorization", "Basic {{ basic_auth }}")]));
        assert!(!doc.to_toml().contains("eyJ"), "no secret in the plan");
    }

    #[test]
    fn cookies_the_server_set_are_left_to_the_cookie_jar() {
        let mut doc = PlanDoc::default();
        let set: HashSet<String> = ["csrftoken".to_string()].into();
        let none = keep(&h(&[("Cookie", "csrftoken=abc")]), &set, &mut doc);
        assert!(none.is_empty());
        assert!(doc.vars.is_empty());
        let some = keep(
            &h(&[("Cookie", "csrftoken=abc; jwt_token=s3cret")]),
            &set,
            &mut doc,
        );
        assert_eq!(some, h(&[("Cookie", "{{ cookie }}")]));
        assert_eq!(doc.vars[0].env, "API_COOKIE");
    }
}
