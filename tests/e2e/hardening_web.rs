//! The server under hostile clients: empty tokens, guessing, stolen or stale cookies, slow and
//! oversize requests, connection floods, shutdown with a request half sent, wrong content types,
//! plans that link outside their folder. Real servers on loopback ports; timeouts shortened
//! through `Settings::limits` so each check takes a second or two.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hornet::config::ServerLimits;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    cookie_pair, hornet, login, no_redirects, spawn_app, spawn_app_in, write_file, AppDir, TestApp,
};

/// A server with `token` and `limits` on `dir` (a fresh one, or one a stopped server handed
/// back).
async fn serve(dir: AppDir, token: Option<&str>, limits: ServerLimits) -> TestApp {
    spawn_app_in(dir, |s| {
        s.token = token.map(str::to_string);
        s.limits = limits;
    })
    .await
}

/// `GET /api/runs` with a bearer token.
async fn runs_with_token(client: &reqwest::Client, url: &str, token: &str) -> reqwest::Response {
    client
        .get(format!("{url}/api/runs"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET /api/runs")
}

async fn get_with_cookie(client: &reqwest::Client, url: &str, cookie: &str) -> u16 {
    client
        .get(format!("{url}/api/runs"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn an_empty_or_blank_token_is_refused_with_exit_2() {
    let dir = AppDir::new();
    let db = dir.db();
    let flag = hornet()
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--no-demo-target",
            "--token",
            "",
        ])
        .arg("--db")
        .arg(&db)
        .output_blocking();
    let env = hornet()
        .env("HORNET_TOKEN", " \t ")
        .args(["serve", "--bind", "0.0.0.0:0", "--no-demo-target"])
        .arg("--db")
        .arg(&db)
        .output_blocking();
    for out in [flag, env] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("token is empty")
                && stderr.contains("--token")
                && stderr.contains("HORNET_TOKEN"),
            "{stderr}"
        );
    }
    assert!(!db.exists(), "refused before opening anything");
}

#[tokio::test]
async fn each_login_is_its_own_session_and_logout_or_a_restart_ends_it() {
    let server = serve(AppDir::new(), Some("s3cret"), ServerLimits::default()).await;
    let url = server.url.clone();
    let client = no_redirects();

    let (status, first) = login(&client, &url, "s3cret").await;
    assert_eq!(status, 303);
    let first = first.expect("a cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(first.contains(attr), "{attr} in {first}");
    }
    let (_, second) = login(&client, &url, "s3cret").await;
    let (first, second) = (cookie_pair(&first), cookie_pair(&second.expect("a cookie")));
    assert_ne!(first, second, "each login gets its own session");
    assert!(first.len() >= "hornet_session=".len() + 32, "{first}");
    assert!(!first.contains("s3cret"));
    assert_eq!(get_with_cookie(&client, &url, &first).await, 200);
    assert_eq!(get_with_cookie(&client, &url, &second).await, 200);

    // A page shown to a session offers to log out; one shown to a bearer client does not.
    let page = client
        .get(format!("{url}/"))
        .header("cookie", &first)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"action="/logout""#),
        "logout form on the page"
    );
    let page = client
        .get(format!("{url}/"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains(r#"action="/logout""#));

    let resp = client
        .post(format!("{url}/logout"))
        .header("cookie", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/login");
    let cleared = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("hornet_session=;") && cleared.contains("Max-Age=0"));
    assert_eq!(get_with_cookie(&client, &url, &first).await, 401, "revoked");
    assert_eq!(
        get_with_cookie(&client, &url, &second).await,
        200,
        "the other session lives on"
    );
    // A browser with the dead cookie is sent to the login page, and told to drop the cookie.
    let resp = client
        .get(format!("{url}/"))
        .header("accept", "text/html")
        .header("cookie", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert!(resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));

    // A restart (same database, same token) forgets every session.
    let dir = server.stop().await;
    let server = serve(dir, Some("s3cret"), ServerLimits::default()).await;
    assert_eq!(
        get_with_cookie(&client, &server.url, &second).await,
        401,
        "sessions end with the process"
    );
    server.stop().await;
}

#[tokio::test]
async fn wrong_tokens_are_braked_per_client_and_the_right_one_works_after_the_wait() {
    let limits = ServerLimits {
        // Long enough that 30 loopback requests surely fall inside the first block.
        auth_base_block: Duration::from_secs(2),
        ..ServerLimits::default()
    };
    let server = serve(AppDir::new(), Some("s3cret"), limits).await;
    let url = server.url.clone();
    let client = no_redirects();

    // An unauthenticated flood guesses nothing and locks nobody out.
    for _ in 0..200 {
        let resp = client.get(format!("{url}/api/runs")).send().await.unwrap();
        assert_eq!(resp.status(), 401);
    }
    let resp = runs_with_token(&client, &url, "s3cret").await;
    assert_eq!(resp.status(), 200);
    // Nor are authorized clients braked, however fast they go.
    for _ in 0..300 {
        let resp = runs_with_token(&client, &url, "s3cret").await;
        assert_eq!(resp.status(), 200);
    }
    let (_, session) = login(&client, &url, "s3cret").await;
    let session = cookie_pair(&session.expect("a cookie"));

    // 30 wrong guesses: the burst of 10 is answered 401 (the 10th starts the block), the rest
    // are refused unread.
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..30 {
        let resp = runs_with_token(&client, &url, &format!("guess-{i}")).await;
        statuses.push(resp.status().as_u16());
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = resp.headers().get("retry-after").map(|v| {
                v.to_str()
                    .unwrap()
                    .parse::<u64>()
                    .expect("Retry-After in seconds")
            });
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"]["code"], "too_many_attempts", "{body}");
        }
    }
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((unauthorized, refused), (10, 20), "{statuses:?}");
    let wait = retry_after.expect("Retry-After on 429");
    assert!((1..=2).contains(&wait), "Retry-After {wait}");

    // While blocked even the right bearer token is refused (else the block would be an oracle)
    // and so is the login form; a live session is not.
    let resp = runs_with_token(&client, &url, "s3cret").await;
    assert_eq!(resp.status(), 429);
    let resp = client
        .post(format!("{url}/login"))
        .form(&[("token", "s3cret")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    assert!(resp.text().await.unwrap().contains("try again in"));
    assert_eq!(get_with_cookie(&client, &url, &session).await, 200);

    // Deliberate: the block lasts the Retry-After it announced, and no probe may touch it.
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(100)).await;
    let resp = runs_with_token(&client, &url, "s3cret").await;
    assert_eq!(resp.status(), 200, "the right token works after the wait");
    // One more wrong guess right after a block blocks again, twice as long.
    let resp = runs_with_token(&client, &url, "again").await;
    assert_eq!(resp.status(), 401);
    let resp = runs_with_token(&client, &url, "s3cret").await;
    assert_eq!(resp.status(), 429);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (3..=4).contains(&wait),
        "second block ~4 s, Retry-After {wait}"
    );
    server.stop().await;
}

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads until the peer closes; returns what it sent and how long that took.
fn read_to_close(mut s: TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("still open after {:?}", started.elapsed())
            }
            Err(_) => break, // reset: closed too
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn slow_headers_and_slow_bodies_are_cut_off_and_oversize_bodies_refused_at_once() {
    let limits = ServerLimits {
        header_read_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(1),
        ..ServerLimits::default()
    };
    let server = serve(AppDir::new(), None, limits).await;
    let addr = server.addr;
    let host = format!("Host: {addr}\r\n");

    let checks = tokio::task::spawn_blocking(move || {
        // Half a header, then nothing: closed after the header timeout.
        let mut half = connect(addr);
        half.write_all(b"GET /api/runs HTTP/1.1\r\nHost: ").unwrap();
        // A connection that sends nothing at all.
        let silent = connect(addr);
        let (got, took) = read_to_close(half);
        assert!(
            took >= Duration::from_millis(500) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert!(!got.contains("200 OK"), "{got}");
        let (_, took) = read_to_close(silent);
        assert!(
            took < Duration::from_secs(5),
            "silent connection held {took:?}"
        );

        // A declared 100 MiB body with none sent: 413 at once.
        let mut big = connect(addr);
        let started = Instant::now();
        big.write_all(
            format!(
                "POST /api/runs HTTP/1.1\r\n{host}Content-Type: application/json\r\n\
                 Content-Length: 104857600\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        big.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut buf = [0u8; 64];
        let n = big.read(&mut buf).expect("an answer within 1 s");
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 413"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        assert!(started.elapsed() < Duration::from_secs(1));

        // A body that stops halfway: answered (not held) once the body deadline passes.
        let mut slow = connect(addr);
        slow.write_all(
            format!(
                "POST /api/runs HTTP/1.1\r\n{host}Content-Type: application/json\r\n\
                 Content-Length: 100\r\n\r\n{{\"plan\":"
            )
            .as_bytes(),
        )
        .unwrap();
        let (got, took) = read_to_close(slow);
        assert!(got.starts_with("HTTP/1.1 400"), "{got}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    });
    checks.await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn the_65th_connection_from_one_ip_is_closed() {
    let server = serve(AppDir::new(), None, ServerLimits::default()).await;
    let addr = server.addr;
    let checks = tokio::task::spawn_blocking(move || {
        let open: Vec<TcpStream> = (0..64).map(|_| connect(addr)).collect();
        let extra = connect(addr);
        let (got, took) = read_to_close(extra);
        assert_eq!(got, "", "closed before anything is read or sent");
        assert!(took < Duration::from_secs(5));
        // The 64 are served.
        let mut first = open.into_iter().next().unwrap();
        first
            .write_all(
                format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
        let (got, _) = read_to_close(first);
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
        // The other 63 were dropped with the Vec: there is room again.
        let mut again = connect(addr);
        again
            .write_all(
                format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
        let (got, _) = read_to_close(again);
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    });
    checks.await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_half_sent_request_beyond_the_deadline() {
    let limits = ServerLimits {
        // Far longer than the deadline: the deadline, not the header timeout, ends it.
        header_read_timeout: Duration::from_secs(60),
        shutdown_deadline: Duration::from_secs(1),
        ..ServerLimits::default()
    };
    let server = serve(AppDir::new(), None, limits).await;
    let addr = server.addr;
    let mut half = connect(addr);
    half.write_all(b"POST /api/runs HTTP/1.1\r\nHost: 127")
        .unwrap();
    let idle = connect(addr);
    // The server accepts in order: once a later connection is answered, it has accepted both.
    let health = reqwest::get(format!("{}/health", server.url))
        .await
        .expect("GET /health");
    assert_eq!(health.status(), 200);
    let started = Instant::now();
    server.stop().await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "shutdown took {took:?}");
    // Both were closed by the server (read_to_close panics on a connection still open).
    tokio::task::spawn_blocking(move || {
        read_to_close(half);
        read_to_close(idle);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn json_endpoints_refuse_other_content_types() {
    let app = spawn_app().await;
    let body = json!({ "plan": "demo", "host": app.target.url(), "run_time": "1s" }).to_string();
    let resp = app
        .client
        .post(app.api("/api/runs"))
        .header("content-type", "text/plain")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "unsupported_media_type", "{err}");
    assert_eq!(err["error"]["field"], "content-type", "{err}");
    let resp = app
        .client
        .patch(app.api("/api/runs/whatever"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("users=3")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    // Nothing was started.
    let (_, runs) = app.get_json("/api/runs").await;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(0), "{runs}");
    app.stop().await;
}

#[tokio::test]
async fn a_plan_linking_outside_the_folder_is_listed_invalid_and_cannot_run() {
    let dir = AppDir::new();
    let outside = write_file(
        dir.path(),
        "elsewhere.toml",
        "name = \"Elsewhere\"\n[[users]]\nname = \"U\"\ntasks = [ { get = \"/\" } ]\n",
    );
    std::os::unix::fs::symlink(&outside, dir.plans().join("x.toml")).unwrap();
    let app = spawn_app_in(dir, |_| {}).await;

    let (status, listed) = app.get_json("/api/plans").await;
    assert_eq!(status, 200);
    let keys: Vec<&str> = listed["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["demo.toml"]);
    let invalid = &listed["invalid"][0];
    assert_eq!(invalid["key"], "x.toml", "{listed}");
    let reason = invalid["errors"][0].as_str().unwrap();
    assert!(
        reason.contains("points outside") && reason.contains("elsewhere.toml"),
        "{reason}"
    );

    let (status, err) = app
        .send_json(
            Method::POST,
            "/api/runs",
            &json!({ "plan": "x", "host": app.target.url() }),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["field"], "plan");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("points outside"),
        "{err}"
    );
    app.stop().await;
}
