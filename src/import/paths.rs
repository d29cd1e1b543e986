//! Stats names for concrete paths: `/tools/7001…01` and `/tools/7001…02` are one row,
//! `/tools/{id}`. A segment is an id when it is a number, a UUID, or a long hex or base64-like
//! token; everything else (words, slugs, versions like `v2`) stays as written.

/// `scheme://host[:port]` of a URL (the port only when it is not the scheme's default).
pub(crate) fn origin_of(url: &url::Url) -> String {
    let host = match url.host() {
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        Some(h) => h.to_string(),
        None => String::new(),
    };
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// Path and query of a URL as a request sends them.
pub(crate) fn path_and_query(url: &url::Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// Whether a path segment looks like an identifier.
pub(crate) fn is_id_like(segment: &str) -> bool {
    let s = segment;
    if s.is_empty() {
        return false;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    if is_uuid(s) {
        return true;
    }
    if s.len() >= 16 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return true;
    }
    // base64/base64url-ish tokens (ObjectIds, ULIDs, JWT pieces): long, mixed letters and
    // digits, no word separators a slug would have... except `-`/`_` inside base64url.
    s.len() >= 20
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'+'))
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes().any(|b| b.is_ascii_alphabetic())
        && !looks_like_words(s)
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `my-long-article-title-2024`: dash-separated parts of letters are words, not a token.
fn looks_like_words(s: &str) -> bool {
    let parts: Vec<&str> = s.split(['-', '_']).collect();
    parts.len() >= 3
        && parts
            .iter()
            .filter(|p| p.bytes().all(|b| b.is_ascii_alphabetic()))
            .count()
            * 2
            >= parts.len()
}

/// The path (no query) with id-like segments replaced by `{id}`, `{id2}`, ...
pub(crate) fn template(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let mut n = 0;
    path.split('/')
        .map(|segment| {
            if is_id_like(segment) {
                n += 1;
                if n == 1 {
                    "{id}".to_string()
                } else {
                    format!("{{id{n}}}")
                }
            } else {
                segment.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The stats name of a request to `path_and_query`: its template, when that is not the path
/// as written (a query alone also gets a name, so `?page=2` joins `?page=1`).
pub(crate) fn stats_name(path_and_query: &str) -> Option<String> {
    let name = template(path_and_query);
    (name != path_and_query).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_numbers_uuids_and_long_tokens() {
        for id in [
            "42",
            "0",
            "70010000000000000000000000000001",
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            "507f1f77bcf86cd799439011",
            "01HZX3K9V6QW8M2N4P5R7T9YAB",
            "eyJhbGciOiJIUzI1NiJ9xyz",
        ] {
            assert!(is_id_like(id), "{id}");
        }
        for word in [
            "tools",
            "v2",
            "admin",
            "partial",
            "openapi.json",
            "abc123",
            "my-long-article-title-2024",
            "",
        ] {
            assert!(!is_id_like(word), "{word}");
        }
    }

    #[test]
    fn paths_that_differ_in_ids_share_a_name() {
        let a = template("/tools/70010000000000000000000000000001");
        let b = template("/tools/70010000000000000000000000000002");
        assert_eq!(a, "/tools/{id}");
        assert_eq!(a, b);
        assert_eq!(
            template("/servers/7/tools/12/state"),
            "/servers/{id}/tools/{id2}/state"
        );
        assert_eq!(template("/admin/tools/partial"), "/admin/tools/partial");
        assert_eq!(stats_name("/tools"), None);
        assert_eq!(stats_name("/tools?page=2").as_deref(), Some("/tools"));
        assert_eq!(stats_name("/users/12?x=1").as_deref(), Some("/users/{id}"));
    }

    #[test]
    fn origins_keep_only_a_port_that_is_not_the_default() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(
            origin_of(&u("http://127.0.0.1:8090/x")),
            "http://127.0.0.1:8090"
        );
        assert_eq!(
            origin_of(&u("https://api.example.com:443/x")),
            "https://api.example.com"
        );
        assert_eq!(path_and_query(&u("http://a/b/c?d=1&e")), "/b/c?d=1&e");
    }
}
