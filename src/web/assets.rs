//! The browser assets under `static/` (app.css, app.js, vendored htmx, htmx-ext-sse, uPlot),
//! embedded in the binary with rust-embed and served at `/static/{*path}` with a strong ETag
//! (the file's sha-256) and long cache lifetimes. Pages link them through [`url`], which adds a
//! content-hash query so a new build is never hidden behind an old cached copy.
//! Nothing here knows about runs, plans or the store.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

// In debug builds rust-embed reads the files from disk at each request (edit-and-reload works);
// release builds embed them.
#[derive(rust_embed::Embed)]
#[folder = "static/"]
struct Static;

/// `GET /static/{*path}`: merge into the app's router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/static/{*path}", get(serve_asset))
}

/// The URL of an asset (path relative to `static/`) with a short content hash as `?v=`, so the
/// long `Cache-Control` lifetimes never serve a stale file after an upgrade.
pub fn url(path: &str) -> String {
    match Static::get(path) {
        Some(file) => {
            let hash = file.metadata.sha256_hash();
            format!("/static/{path}?v={}", hex(&hash[..4]))
        }
        None => format!("/static/{path}"),
    }
}

async fn serve_asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    // rust-embed's debug mode reads from disk: never let a path leave the folder.
    if path.split(['/', '\\']).any(|seg| seg == "..") || path.starts_with('/') {
        return not_found();
    }
    let Some(file) = Static::get(&path) else {
        return not_found();
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()));
    let cache = if path.starts_with("vendor/") {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    let etag_value = HeaderValue::from_str(&etag).expect("hex is a valid header value");
    let cache_value = HeaderValue::from_static(cache);

    if let Some(inm) = headers.get(header::IF_NONE_MATCH) {
        if etag_matches(inm.as_bytes(), &etag) {
            return (
                StatusCode::NOT_MODIFIED,
                [
                    (header::ETAG, etag_value),
                    (header::CACHE_CONTROL, cache_value),
                ],
            )
                .into_response();
        }
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(&path)),
            ),
            (header::ETAG, etag_value),
            (header::CACHE_CONTROL, cache_value),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        file.data.into_owned(),
    )
        .into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        "not found",
    )
        .into_response()
}

/// `If-None-Match` uses the weak comparison (RFC 9110 §13.1.2): `W/` prefixes are ignored.
fn etag_matches(if_none_match: &[u8], etag: &str) -> bool {
    let Ok(text) = std::str::from_utf8(if_none_match) else {
        return false;
    };
    text.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" | "" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn get_req(uri: &str) -> Request<Body> {
        Request::get(uri).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn serves_htmx_with_etag_type_and_immutable_cache() {
        let res = router::<()>()
            .oneshot(get_req("/static/vendor/htmx.min.js"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let h = res.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        let etag = h[header::ETAG].to_str().unwrap().to_string();
        assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() == 66);
        assert_eq!(
            h[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert!(body.starts_with(b"var htmx="));
    }

    #[tokio::test]
    async fn app_files_get_a_short_cache_and_their_type() {
        let res = router::<()>()
            .oneshot(get_req("/static/app.css"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/css; charset=utf-8"
        );
        assert_eq!(res.headers()[header::CACHE_CONTROL], "public, max-age=3600");
    }

    #[tokio::test]
    async fn matching_if_none_match_gives_304() {
        let first = router::<()>()
            .oneshot(get_req("/static/app.js"))
            .await
            .unwrap();
        let etag = first.headers()[header::ETAG].clone();
        for inm in [
            etag.to_str().unwrap().to_string(),
            format!("W/{}, \"other\"", etag.to_str().unwrap()),
        ] {
            let req = Request::get("/static/app.js")
                .header(header::IF_NONE_MATCH, inm)
                .body(Body::empty())
                .unwrap();
            let res = router::<()>().oneshot(req).await.unwrap();
            assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
            assert_eq!(res.headers()[header::ETAG], etag);
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert!(body.is_empty());
        }
        let req = Request::get("/static/app.js")
            .header(header::IF_NONE_MATCH, "\"stale\"")
            .body(Body::empty())
            .unwrap();
        let res = router::<()>().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn unknown_and_escaping_paths_are_404() {
        for uri in [
            "/static/nope.js",
            "/static/vendor/../../Cargo.toml",
            "/static/..%2FCargo.toml",
        ] {
            let res = router::<()>().oneshot(get_req(uri)).await.unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{uri}");
        }
    }

    #[test]
    fn urls_carry_a_content_hash() {
        let u = url("vendor/htmx.min.js");
        assert!(u.starts_with("/static/vendor/htmx.min.js?v="), "{u}");
        assert_eq!(u.len(), "/static/vendor/htmx.min.js?v=".len() + 8);
        assert_eq!(url("missing.js"), "/static/missing.js");
    }
}
