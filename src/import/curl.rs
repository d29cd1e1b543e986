//! A `curl` command line (as a browser's "Copy as cURL" or an API's docs give it) → one task
//! with one request. Understood: the URL (positional or `--url`), `-X`, `-H`, `-d`/`--data`/
//! `--data-raw`/`--data-binary`/`--data-ascii`/`--data-urlencode`, `--json`, `-G`, `-I`,
//! `-u user:pass`, `-b name=value`, `-A`, `-e`; `--compressed`, `-k`, `-L`, `-s` and other
//! output flags are accepted and change nothing a plan holds. Line continuations (`\`, `^`)
//! and shell quotes are read as a POSIX shell would (`shell-words`).

use std::collections::HashSet;

use super::headers;
use super::paths::{origin_of, path_and_query, stats_name};
use super::plan_writer::{
    as_rpc, fits_toml, literal, literal_json, BodyDoc, PlanDoc, RequestDoc, TaskDoc,
};
use super::{ImportError, ImportOptions};

/// Flags that take a value and leave the plan alone (output, timeouts, TLS files, proxies).
const IGNORED_WITH_VALUE: &[&str] = &[
    "-o",
    "--output",
    "-w",
    "--write-out",
    "--connect-timeout",
    "-m",
    "--max-time",
    "--retry",
    "--retry-delay",
    "--retry-max-time",
    "-x",
    "--proxy",
    "--cacert",
    "--capath",
    "-E",
    "--cert",
    "--key",
    "--resolve",
    "--max-redirs",
    "-c",
    "--cookie-jar",
    "--limit-rate",
    "--interface",
];

#[derive(Default)]
struct Parsed {
    url: Option<String>,
    method: Option<String>,
    headers: Vec<(String, String)>,
    data: Vec<String>,
    json: bool,
    get: bool,
    user: Option<String>,
    cookies: Vec<String>,
    insecure: bool,
}

pub(crate) fn import(input: &str, opts: &ImportOptions) -> Result<PlanDoc, ImportError> {
    let parsed = parse(input)?;
    let Some(raw_url) = parsed.url.clone() else {
        return Err(ImportError::content("the curl command has no URL"));
    };
    let with_scheme = if raw_url.contains("://") {
        raw_url.clone()
    } else {
        format!("http://{raw_url}")
    };
    let mut url = url::Url::parse(&with_scheme)
        .map_err(|e| ImportError::content(format!("the URL {raw_url:?} is not valid: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ImportError::content(format!(
            "the URL {raw_url:?} is not http or https"
        )));
    }
    let host = origin_of(&url);
    let mut doc = PlanDoc {
        description: format!("One request imported from a curl command ({host})"),
        host: host.clone(),
        class_name: "CurlUser".into(),
        wait: "constant(1s)".into(),
        ..PlanDoc::default()
    };
    doc.comments.push(format!(
        "Imported by `hornet import curl` from {}.",
        opts.source
    ));
    if parsed.insecure {
        doc.comments
            .push("The command had -k (no TLS verification); Hornet verifies certificates.".into());
    }

    let content_type = parsed
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_ascii_lowercase());
    let data = parsed.data.join("&");
    let has_data = !parsed.data.is_empty();
    let mut body = None;
    if has_data && parsed.get {
        let joined = match url.query() {
            Some(q) if !q.is_empty() => format!("{q}&{data}"),
            _ => data.clone(),
        };
        url.set_query(Some(&joined));
    } else if has_data {
        body = Some(body_of(&data, parsed.json, content_type.as_deref()));
    }
    let method = parsed
        .method
        .clone()
        .map(|m| m.to_ascii_lowercase())
        .unwrap_or_else(|| {
            if has_data && !parsed.get {
                "post".into()
            } else {
                "get".into()
            }
        });
    if !matches!(
        method.as_str(),
        "get" | "post" | "put" | "patch" | "delete" | "head"
    ) {
        return Err(ImportError::content(format!(
            "method {} has no step kind (get, post, put, patch, delete, head)",
            method.to_ascii_uppercase()
        )));
    }

    let mut raw_headers = parsed.headers.clone();
    let has_accept = raw_headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("accept"));
    if parsed.json && !has_accept {
        raw_headers.push(("Accept".into(), "application/json".into()));
    }
    let mut kept = headers::keep(&raw_headers, &HashSet::new(), &mut doc);
    if !parsed.cookies.is_empty() {
        let var = doc.add_secret(headers::cookie_secret());
        kept.push(("Cookie".into(), format!("{{{{ {var} }}}}")));
    }
    if parsed.user.is_some() {
        let var = doc.add_secret(headers::basic_secret());
        kept.retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
        kept.push(("Authorization".into(), format!("Basic {{{{ {var} }}}}")));
    }
    if matches!(body, Some(BodyDoc::Json(_) | BodyDoc::Form(_))) {
        kept.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
    }
    let path = path_and_query(&url);
    let name = stats_name(&path);
    doc.name = format!(
        "{} {host}{}",
        method.to_ascii_uppercase(),
        name.as_deref().unwrap_or(&path)
    );
    doc.tasks.push(TaskDoc {
        name: format!(
            "{} {}",
            method.to_ascii_uppercase(),
            name.as_deref().unwrap_or(&path)
        ),
        weight: None,
        tags: Vec::new(),
        steps: vec![as_rpc(RequestDoc {
            method,
            name,
            path: literal(&path),
            headers: kept,
            body,
            check_status: Vec::new(),
        })],
    });
    Ok(doc)
}

/// `-d` data: JSON when it says so (`--json`, a JSON Content-Type, or data that parses as a
/// JSON object or array without a Content-Type), a form when curl would send one, else text.
fn body_of(data: &str, json: bool, content_type: Option<&str>) -> BodyDoc {
    let says_json = json || content_type.is_some_and(|c| c.contains("json"));
    let looks_json =
        content_type.is_none() && matches!(data.trim_start().chars().next(), Some('{' | '['));
    if says_json || looks_json {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(data) {
            if fits_toml(&v) {
                return BodyDoc::Json(literal_json(v));
            }
        }
    }
    let form = content_type.is_none_or(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form && !says_json {
        return BodyDoc::Form(
            url::form_urlencoded::parse(data.as_bytes())
                .map(|(k, v)| (k.into_owned(), literal(&v)))
                .collect(),
        );
    }
    BodyDoc::Text(literal(data))
}

fn parse(input: &str) -> Result<Parsed, ImportError> {
    // Line continuations: `\` (POSIX shells) and `^` (cmd.exe) before a newline.
    let joined = input
        .replace("\\\r\n", " ")
        .replace("\\\n", " ")
        .replace("^\r\n", " ")
        .replace("^\n", " ");
    let words = shell_words::split(&joined)
        .map_err(|e| ImportError::content(format!("cannot split the curl command: {e}")))?;
    let mut words = words.into_iter().peekable();
    match words.peek() {
        Some(first) if first == "curl" || first.ends_with("/curl") || first == "curl.exe" => {
            words.next();
        }
        Some(_) => {}
        None => return Err(ImportError::content("the curl command is empty")),
    }
    let mut p = Parsed::default();
    while let Some(word) = words.next() {
        // `--flag=value` and `-Xvalue` spellings.
        let (flag, inline) = split_flag(&word);
        let mut value = |name: &str| -> Result<String, ImportError> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => words
                    .next()
                    .ok_or_else(|| ImportError::content(format!("{name} needs a value"))),
            }
        };
        match flag.as_str() {
            "-X" | "--request" => p.method = Some(value(&flag)?),
            "-H" | "--header" => {
                let h = value(&flag)?;
                match h.split_once(':') {
                    Some((n, v)) => p.headers.push((n.trim().to_string(), v.trim().to_string())),
                    None => {
                        return Err(ImportError::content(format!(
                            "header {h:?} is not \"Name: value\""
                        )))
                    }
                }
            }
            "-d" | "--data" | "--data-raw" | "--data-binary" | "--data-ascii" => {
                let d = value(&flag)?;
                if d.starts_with('@') && flag != "--data-raw" {
                    return Err(ImportError::content(format!(
                        "{flag} {d}: the body is read from a file; paste the body itself"
                    )));
                }
                p.data.push(d);
            }
            "--data-urlencode" => {
                let d = value(&flag)?;
                let encoded = match d.split_once('=') {
                    Some((name, v)) => format!("{name}={}", encode(v)),
                    None => encode(&d),
                };
                p.data.push(encoded);
            }
            "--json" => {
                p.data.push(value(&flag)?);
                p.json = true;
            }
            "-G" | "--get" => p.get = true,
            "-k" | "--insecure" => p.insecure = true,
            "-I" | "--head" => p.method = Some("HEAD".into()),
            "-u" | "--user" => p.user = Some(value(&flag)?),
            "-b" | "--cookie" => {
                let c = value(&flag)?;
                // Without `=` it names a cookie file.
                if c.contains('=') {
                    p.cookies.push(c);
                }
            }
            "-A" | "--user-agent" | "-e" | "--referer" => {
                value(&flag)?;
            }
            "--url" => p.url = Some(value(&flag)?),
            "-F" | "--form" => {
                return Err(ImportError::content(
                    "multipart forms (-F) are not supported; a plan sends json, form or body",
                ))
            }
            f if IGNORED_WITH_VALUE.contains(&f) => {
                value(f)?;
            }
            f if f.starts_with('-') && f.len() > 1 => {}
            _ => {
                if p.url.is_some() {
                    return Err(ImportError::content(format!(
                        "a second URL {word:?}: import one request at a time"
                    )));
                }
                p.url = Some(word.clone());
            }
        }
    }
    Ok(p)
}

/// `--name=value` → (`--name`, value); `-Xvalue` → (`-X`, value) for the short flags that take
/// a value; anything else as is.
fn split_flag(word: &str) -> (String, Option<String>) {
    if let Some(rest) = word.strip_prefix("--") {
        if let Some((name, v)) = rest.split_once('=') {
            return (format!("--{name}"), Some(v.to_string()));
        }
        return (word.to_string(), None);
    }
    const SHORT_WITH_VALUE: &[char] = &['X', 'H', 'd', 'u', 'b', 'A', 'e', 'o', 'm', 'x', 'w'];
    let mut chars = word.chars();
    if chars.next() == Some('-') {
        if let Some(c) = chars.next() {
            let rest: String = chars.collect();
            if SHORT_WITH_VALUE.contains(&c) && !rest.is_empty() {
                return (format!("-{c}"), Some(rest));
            }
        }
    }
    (word.to_string(), None)
}

fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{import as import_any, ImportKind};

    fn plan(cmd: &str) -> String {
        let opts = ImportOptions {
            source: "pasted".into(),
            ..ImportOptions::default()
        };
        let out = import_any(ImportKind::Curl, cmd, &opts).unwrap_or_else(|e| panic!("{e}"));
        crate::plan::parse_str(&out.text, "curl.toml", None)
            .unwrap_or_else(|e| panic!("{e}\n{}", out.text));
        out.text
    }

    #[test]
    fn a_devtools_copy_keeps_what_matters() {
        let text = plan(
            "curl 'http://127.0.0.1:8090/tools/70010000000000000000000000000001?full=1' \\\n  -H 'Accept: application/json' \\\n  -H 'Authorization: Bearer s3cret' \\\n  -H 'User-Agent: Mozilla/5.0' \\\n  -H 'sec-ch-ua: \"Chromium\"' \\\n  --compressed -k",
        );
        assert!(text.contains("host = \"http://127.0.0.1:8090\""), "{text}");
        assert!(text.contains(
            "{ get = \"/tools/70010000000000000000000000000001?full=1\", name = \"/tools/{id}\", headers = { Accept = \"application/json\", Authorization = \"Bearer {{ token }}\" } }"
        ), "{text}");
        assert!(
            !text.contains("s3cret") && !text.contains("Mozilla"),
            "{text}"
        );
        assert!(text.contains("-k (no TLS verification)"), "{text}");
    }

    #[test]
    fn data_flags_make_json_form_or_text_bodies() {
        let json = plan(
            r#"curl -X PUT https://api.test/items/5 -H "Content-Type: application/json" --data-raw '{"name":"a","n":[1,2]}'"#,
        );
        assert!(json.contains("{ put = \"/items/5\", name = \"/items/{id}\", json = { n = [1, 2], name = \"a\" } }"), "{json}");
        let form = plan("curl https://api.test/login -d user=a -d 'pw=b c'");
        assert!(
            form.contains("{ post = \"/login\", form = { user = \"a\", pw = \"b c\" } }"),
            "{form}"
        );
        let j = plan(r#"curl --json '{"q":1}' https://api.test/search"#);
        assert!(
            j.contains("headers = { Accept = \"application/json\" }, json = { q = 1 }"),
            "{j}"
        );
        let text = plan("curl -H 'Content-Type: text/plain' --data-binary 'hello {{ x }}' https://api.test/echo");
        assert!(
            text.contains("body = \"{% raw %}hello {{ x }}{% endraw %}\""),
            "{text}"
        );
        let get = plan("curl -G https://api.test/find -d q=x --data-urlencode 'w=a b'");
        assert!(
            get.contains("{ get = \"/find?q=x&w=a%2Bb\", name = \"/find\" }")
                || get.contains("{ get = \"/find?q=x&w=a+b\", name = \"/find\" }"),
            "{get}"
        );
    }

    #[test]
    fn credentials_become_env_vars() {
        let text =
            plan("curl -u admin:hunter2 -b 'session=abc' --request=DELETE https://api.test/x");
        assert!(text.contains("delete = \"/x\""), "{text}");
        assert!(text.contains("Cookie = \"{{ cookie }}\""), "{text}");
        assert!(
            text.contains("Authorization = \"Basic {{ basic_auth }}\""),
            "{text}"
        );
        assert!(
            text.contains("API_BASIC_AUTH") && text.contains("API_COOKIE"),
            "{text}"
        );
        assert!(!text.contains("hunter2") && !text.contains("abc"), "{text}");
    }

    #[test]
    fn bad_commands_say_what_is_wrong() {
        let opts = ImportOptions::default();
        let err = |cmd: &str| {
            import(cmd, &opts)
                .err()
                .map(|e| e.message)
                .unwrap_or_default()
        };
        assert!(err("curl -H 'X: y'").contains("no URL"));
        assert!(err("curl 'http://a/b").contains("cannot split"));
        assert!(err("curl -d @body.json http://a/b").contains("read from a file"));
        assert!(err("curl -F a=b http://a/b").contains("multipart"));
        assert!(err("curl -X OPTIONS http://a/b").contains("no step kind"));
    }
}
