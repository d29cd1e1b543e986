//! Every failure of a handler becomes a response here, in one place: API errors as
//! `{"error": {"code", "message", "field"}}` with a 4xx status naming the field at fault, page
//! errors as an HTML page. 5xx bodies carry no internals (those go to the log).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::engine::EngineError;
use crate::request::RequestError;
use crate::runs::StartError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    /// 400: `field` of the request is wrong.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid",
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
            field: None,
        }
    }

    pub fn run_not_found(id: &str) -> ApiError {
        ApiError {
            field: Some("id".into()),
            ..ApiError::not_found(format!("no run with id {id:?}"))
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::CONFLICT,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// 500 with a generic message; the cause is logged, never sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "request failed");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error; see the server log".into(),
            field: None,
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            code,
            message: message.into(),
            field: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": { "code": self.code, "message": self.message, "field": self.field }
        });
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(&e)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid { field, message } => ApiError::invalid(field, message),
            EngineError::Ended => ApiError::conflict("run_ended", "the run has already ended"),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        ApiError::invalid(e.field, e.message)
    }
}

impl From<StartError> for ApiError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Busy { .. } | StartError::Starting => {
                ApiError::conflict("run_active", e.to_string())
            }
            StartError::Invalid(e) => e.into(),
            StartError::Refused(e) => e.into(),
            StartError::Store(e) => e.into(),
        }
    }
}

/// A page that could not be shown, rendered as HTML with the API error's status and message.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        let title = e.status.canonical_reason().unwrap_or("Error").to_string();
        let page = crate::web::views::ErrorPage::new(e.status.as_u16(), title, e.message);
        match askama::Template::render(&page) {
            Ok(html) => (e.status, Html(html)).into_response(),
            Err(render) => ApiError::internal(&render).into_response(),
        }
    }
}
