//! `POST /api/import` (HAR, OpenAPI or curl text → plan text and its `hornet check` result) and
//! `POST /api/plans` (save a plan into the plans folder under a new plain file name). Both sit
//! behind the guard like every API route; their bodies may be larger than other API bodies
//! (a HAR file), see [`IMPORT_BODY_LIMIT`].

use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::api::require_json;
use super::error::ApiError;
use super::state::AppState;
use crate::import::{self, ImportKind, ImportOptions};
use crate::plan::{self, describe, library::DEMO_KEY};

/// Bodies of these two routes may reach this (a browser's HAR with its response bodies).
pub const IMPORT_BODY_LIMIT: usize = 16 * 1024 * 1024;
/// A saved plan's file name: at most this many characters.
const MAX_FILE_NAME: usize = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/import", post(import_plan))
        .route("/api/plans", post(save_plan))
}

fn object(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    require_json(headers, body)?;
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid("body", "the body must be a JSON object")),
        Err(e) => Err(ApiError::invalid(
            "body",
            format!("the body is not valid JSON: {e}"),
        )),
    }
}

fn text_field(map: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::invalid(
            field,
            format!("{field} must be a string, got {other}"),
        )),
    }
}

fn required(map: &Map<String, Value>, field: &str) -> Result<String, ApiError> {
    text_field(map, field)?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::invalid(field, format!("{field} is required")))
}

fn known_fields(map: &Map<String, Value>, known: &[&str]) -> Result<(), ApiError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(ApiError::invalid(
            unknown.clone(),
            format!("unknown field {unknown:?}; expected {}", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// `{kind, content, host?, name?, keep_static?, source?}` → `{plan, env_vars, check}`; `check`
/// is `{ok: true, summary}` (what `hornet check` prints) or `{ok: false, errors: [..]}`.
async fn import_plan(headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let map = object(&headers, &body)?;
    known_fields(
        &map,
        &["kind", "content", "host", "name", "keep_static", "source"],
    )?;
    let kind_text = required(&map, "kind")?;
    let kind = ImportKind::parse(&kind_text).ok_or_else(|| {
        ApiError::invalid(
            "kind",
            format!("kind must be {}, got {kind_text:?}", ImportKind::NAMES),
        )
    })?;
    let content = required(&map, "content")?;
    let keep_static = match map.get("keep_static") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ApiError::invalid(
                "keep_static",
                format!("keep_static must be true or false, got {other}"),
            ))
        }
    };
    let opts = ImportOptions {
        host: text_field(&map, "host")?.filter(|h| !h.trim().is_empty()),
        name: text_field(&map, "name")?,
        keep_static,
        source: text_field(&map, "source")?
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| format!("an upload ({})", kind.as_str())),
        base_url: None,
    };
    // Parsing a large HAR is CPU work: off the async workers.
    let imported = tokio::task::spawn_blocking(move || import::import(kind, &content, &opts))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::invalid(e.field, e.message))?;
    let check = match plan::parse_str(&imported.text, "imported.toml", None) {
        Ok(plan) => json!({ "ok": true, "summary": describe::describe(&plan) }),
        Err(errors) => json!({
            "ok": false,
            "errors": errors.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }),
    };
    Ok(Json(json!({
        "plan": imported.text,
        "env_vars": imported.env_vars,
        "check": check,
    }))
    .into_response())
}

/// `{file, content}` → 201 `{key}`: a new `file` (a plain name; `.toml` added when missing) in
/// the plans folder holding `content`, which must be a valid plan. An existing name is 409.
async fn save_plan(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let map = object(&headers, &body)?;
    known_fields(&map, &["file", "content"])?;
    let key = plan_file_name(&required(&map, "file")?)?;
    let content = required(&map, "content")?;
    let dir = state.plan_cache.dir().to_path_buf();
    let file = dir.join(&key).display().to_string();
    if let Err(errors) = plan::parse_str_without_data(&content, &file, Some(&dir)) {
        return Err(ApiError::invalid(
            "content",
            format!("the plan does not validate:\n{errors}"),
        ));
    }
    let lib = state.plans().await;
    let taken = lib.plans.iter().any(|p| p.key == key)
        || lib.invalid.iter().any(|(k, _)| *k == key)
        || key == DEMO_KEY;
    if taken {
        return Err(exists(&key));
    }
    let target = dir.join(&key);
    let written = tokio::task::spawn_blocking(move || write_new(&dir, &target, &content))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    match written {
        Ok(()) => {
            tracing::info!(plan = %key, "plan saved");
            Ok((
                StatusCode::CREATED,
                [(header::LOCATION, format!("/?plan={key}"))],
                Json(json!({ "key": key, "page": format!("/?plan={key}") })),
            )
                .into_response())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(exists(&key)),
        Err(e) => Err(ApiError::internal(&e)),
    }
}

fn exists(key: &str) -> ApiError {
    ApiError {
        field: Some("file".into()),
        ..ApiError::conflict("exists", format!("a plan named {key} exists already"))
    }
}

/// A plain file name for the plans folder: letters, digits, `.`, `-`, `_`, not starting with
/// a dot, ending in `.toml` (added when missing).
fn plan_file_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let plain = !name.is_empty()
        && name.chars().count() <= MAX_FILE_NAME
        && !name.starts_with('.')
        && !name.contains("..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !plain {
        return Err(ApiError::invalid(
            "file",
            format!(
                "file must be a plain file name (letters, digits, '.', '-', '_'; no folders), \
                 got {name:?}"
            ),
        ));
    }
    Ok(if name.ends_with(".toml") {
        name.to_string()
    } else {
        format!("{name}.toml")
    })
}

/// Creates `path` (never replacing a file) in `dir`, creating the folder when missing.
fn write_new(dir: &Path, path: &PathBuf, content: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(content.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_file_names_are_saved() {
        assert_eq!(plan_file_name("my_api").unwrap(), "my_api.toml");
        assert_eq!(plan_file_name("demo-2.toml").unwrap(), "demo-2.toml");
        for bad in [
            "",
            "../x",
            "a/b",
            ".hidden",
            "a b",
            "x\\y",
            "..toml",
            &"x".repeat(101),
        ] {
            let e = plan_file_name(bad).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("file"), "{bad}");
        }
    }
}
