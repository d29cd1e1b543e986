//! HTTP steps: prepared once per run (static parts of URL, headers and body built ahead), then
//! executed per request by a user — render what is dynamic, send, check, capture, record (and
//! with `publish`, post the fan-out event its response names: see `fanout.rs`).
//! This is the hot path: whatever can be built once is built here at preparation, not per
//! request; connections and cookies belong to `http_client.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};

use super::check::{verify, ResponseView};
use super::common::PreparedHeaders;
use super::fanout::PreparedFanout;
use super::http_client::{timeout_message, OriginInfo, Outgoing, Target};
use super::step::{sample, PrepareCtx, PrepareError, StepCtx};
use crate::engine::vars::Vars;
use crate::plan::model::{
    Body, BodyLimit, Capture, CaptureSource, Checks, FanoutRole, HttpStep, NameId, Step,
};
use crate::plan::template::{JsonTemplate, Template};

/// The request parts of an HTTP step that do not change between requests, built at run start.
#[derive(Debug)]
pub struct PreparedHttp {
    method: http::Method,
    path: Template,
    query: Vec<(String, Template)>,
    /// Set when neither the path nor the query uses a template.
    static_target: Option<Target>,
    base: Arc<OriginInfo>,
    headers: PreparedHeaders,
    body: PreparedBody,
    content_type: Option<HeaderValue>,
    timeout: Duration,
    /// Set when checks or captures read the body: how much of it to keep.
    keep_body: Option<BodyLimit>,
    name: NameId,
    checks: Checks,
    captures: Vec<Capture>,
    /// Checks or captures read response headers (else only the client's own are kept).
    reads_headers: bool,
    /// `publish`: the response names the event this request emitted.
    publish: Option<PreparedFanout>,
}

#[derive(Debug)]
enum PreparedBody {
    Empty,
    Static(Bytes),
    Json(JsonTemplate),
    Text(Template),
    Form(Vec<(String, Template)>),
}

impl PreparedHttp {
    pub fn new(
        step: &Step,
        http_step: &HttpStep,
        cx: &PrepareCtx<'_>,
    ) -> Result<PreparedHttp, PrepareError> {
        let err = |message: String| PrepareError::at(step, message);
        let vars = cx.vars;
        let headers =
            PreparedHeaders::new(&cx.defaults.headers, &http_step.headers, vars).map_err(err)?;
        let (body, content_type) = prepare_body(http_step.body.as_ref(), vars).map_err(err)?;
        let static_target = if http_step.path.is_static()
            && http_step.query.iter().all(|(_, v)| v.is_static())
        {
            let path = with_query(http_step.path.source(), &http_step.query, vars).map_err(err)?;
            Some(Target::join(cx.base, &path).map_err(|e| err(e.to_string()))?)
        } else {
            None
        };
        let publish = PreparedFanout::new(step.fanout.as_ref(), FanoutRole::Publish, cx.topics);
        let reads_headers = !step.checks.header.is_empty()
            || step
                .captures
                .iter()
                .any(|c| matches!(c.source, CaptureSource::Header(_)));
        let checks_need_body = step.checks.needs_body()
            || step.captures.iter().any(|c| c.source.needs_body())
            || publish.is_some();
        Ok(PreparedHttp {
            method: http::Method::from_bytes(http_step.method.as_str().as_bytes())
                .map_err(|e| err(e.to_string()))?,
            path: http_step.path.clone(),
            query: http_step.query.clone(),
            static_target,
            base: cx.base.clone(),
            headers,
            body,
            content_type,
            timeout: cx.timeout(step),
            keep_body: checks_need_body.then_some(http_step.max_body),
            reads_headers,
            name: PrepareError::row(step)?,
            checks: step.checks.clone(),
            captures: step.captures.clone(),
            publish,
        })
    }

    /// Sends one request for the user, checks it, captures from it and records its sample.
    /// Returns whether the step succeeded.
    pub async fn execute(&self, cx: &mut StepCtx<'_>) -> bool {
        let (name, lag) = (self.name, cx.lag);
        let start = Instant::now();
        let outgoing = match self.outgoing(cx.vars) {
            Ok(o) => o,
            Err(message) => return cx.fail(name, Duration::ZERO, message, start),
        };
        let keep = self.keep_body.map(|limit| limit.bytes);
        let listening = self.publish.as_ref().map(PreparedFanout::listening);
        let result = cx
            .http
            .send_within(self.timeout, outgoing, keep, self.reads_headers)
            .await;
        let end = Instant::now();
        let elapsed = end.duration_since(start);
        match result {
            Some(Ok(resp)) if resp.over_limit => {
                let message = self
                    .keep_body
                    .map(|limit| limit.exceeded_message())
                    .unwrap_or_default();
                let failed = sample(name, elapsed, lag, resp.body_len, false)
                    .with_status(resp.status.as_u16());
                cx.rec.record_failure(failed, message, end);
                false
            }
            Some(Ok(resp)) => {
                let view = ResponseView {
                    status: resp.status.as_u16(),
                    headers: &resp.headers,
                    body: &resp.body,
                    elapsed,
                };
                let bytes = resp.body_len;
                let verified = verify(&self.checks, &self.captures, &view, cx.vars);
                let published = match (&self.publish, listening) {
                    (Some(publish), Some(expected)) if verified.is_ok() => {
                        publish.published(&resp.body, start, expected, cx.rec, end)
                    }
                    _ => Ok(()),
                };
                match verified.and(published) {
                    Ok(()) => {
                        let ok = sample(name, elapsed, lag, bytes, true).with_status(view.status);
                        cx.rec.record(ok, end);
                        true
                    }
                    Err(message) => {
                        let failed =
                            sample(name, elapsed, lag, bytes, false).with_status(view.status);
                        cx.rec.record_failure(failed, message, end);
                        false
                    }
                }
            }
            Some(Err(e)) => cx.fail(name, elapsed, e.to_string(), end),
            // the client dropped the connection, mid-request
            None => cx.fail(name, elapsed, timeout_message(self.timeout), end),
        }
    }

    /// Builds the request for this user (rendering whatever is dynamic).
    fn outgoing(&self, vars: &Vars) -> Result<Outgoing, String> {
        let target = match &self.static_target {
            Some(t) => t.clone(),
            None => {
                let path = self.path.render(vars).map_err(|e| e.to_string())?;
                let path = with_query(&path, &self.query, vars)?;
                Target::join(&self.base, &path).map_err(|e| e.to_string())?
            }
        };
        let mut headers = self.headers.render(vars)?;
        if let Some(ct) = &self.content_type {
            if !headers.contains_key(CONTENT_TYPE) {
                headers.insert(CONTENT_TYPE, ct.clone());
            }
        }
        let body = match &self.body {
            PreparedBody::Empty => Bytes::new(),
            PreparedBody::Static(b) => b.clone(),
            PreparedBody::Json(j) => j.render_bytes(vars).map_err(|e| e.to_string())?,
            PreparedBody::Text(t) => {
                Bytes::from(t.render(vars).map_err(|e| e.to_string())?.into_owned())
            }
            PreparedBody::Form(fields) => encode_form(fields, vars)?,
        };
        Ok(Outgoing {
            method: self.method.clone(),
            target,
            headers,
            body,
        })
    }
}

/// The body of every request of the step, and its default `Content-Type`: encoded once when
/// static, else kept as a template.
fn prepare_body(
    body: Option<&Body>,
    vars: &Vars,
) -> Result<(PreparedBody, Option<HeaderValue>), String> {
    Ok(match body {
        None => (PreparedBody::Empty, None),
        Some(Body::Json(j)) => {
            let ct = Some(HeaderValue::from_static("application/json"));
            if j.is_static() {
                let bytes = j.render_bytes(vars).map_err(|e| e.to_string())?;
                (PreparedBody::Static(bytes), ct)
            } else {
                (PreparedBody::Json(j.clone()), ct)
            }
        }
        Some(Body::Text(t)) if t.is_static() => (
            PreparedBody::Static(Bytes::from(t.source().to_string())),
            None,
        ),
        Some(Body::Text(t)) => (PreparedBody::Text(t.clone()), None),
        Some(Body::Form(fields)) => {
            let ct = Some(HeaderValue::from_static(
                "application/x-www-form-urlencoded",
            ));
            if fields.iter().all(|(_, v)| v.is_static()) {
                (PreparedBody::Static(encode_form(fields, vars)?), ct)
            } else {
                (PreparedBody::Form(fields.clone()), ct)
            }
        }
    })
}

fn with_query(path: &str, query: &[(String, Template)], vars: &Vars) -> Result<String, String> {
    if query.is_empty() {
        return Ok(path.to_string());
    }
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in query {
        ser.append_pair(k, &v.render(vars).map_err(|e| e.to_string())?);
    }
    let sep = if path.contains('?') { '&' } else { '?' };
    Ok(format!("{path}{sep}{}", ser.finish()))
}

fn encode_form(fields: &[(String, Template)], vars: &Vars) -> Result<Bytes, String> {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        ser.append_pair(k, &v.render(vars).map_err(|e| e.to_string())?);
    }
    Ok(Bytes::from(ser.finish()))
}
