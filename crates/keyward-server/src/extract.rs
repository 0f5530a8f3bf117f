//! Request extractors that turn every bad input into an [`ApiError`] naming the field,
//! instead of axum's plain-text rejections.

use crate::errors::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
use serde::de::DeserializeOwned;

/// JSON body: 400 `invalid_json` for syntax, 422 `validation_failed` naming the field
/// for wrong types, unknown fields or values that do not parse, 415 without a JSON
/// content type, 413 when too large.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body that may be left out: an empty (or all-whitespace) body is
/// `T::default()`; any other body follows exactly [`ApiJson`]'s rules (JSON content
/// type, an object, unknown fields refused, 413 when too large). For actions such as
/// "rotate" whose options all have defaults, so `POST` with no body is the common case.
pub struct ApiJsonOrEmpty<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for ApiJsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers());
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(ApiJsonOrEmpty(T::default()));
        }
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(&bytes).map(ApiJsonOrEmpty)
    }
}

/// `application/json` or any `+json` type, parameters (`; charset=utf-8`) aside.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
        })
}

/// The whole body, within the router's `DefaultBodyLimit`: 413 `payload_too_large`
/// beyond it, never axum's plain-text rejection.
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::InvalidJson(rejection.body_text())
        }
    })
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every request body is an object; serde would otherwise read a struct from an
    // array and report a confusing `[0]` field. Only the rare non-object pays twice.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(_) => ApiError::validation("body", "must be a JSON object"),
            Err(e) => ApiError::InvalidJson(e.to_string()),
        });
    }
    // Fast path: a body that parses needs no error path. Only a failing body is parsed
    // a second time, with path tracking, to name the field in the error.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = strip_position(&inner.to_string());
                match (path.as_str(), missing_field(&message)) {
                    (".", Some(name)) => ApiError::validation(name, "is required"),
                    (_, Some(name)) => {
                        ApiError::validation(format!("{path}.{name}"), "is required")
                    }
                    (".", None) => ApiError::validation("body", message),
                    (_, None) => ApiError::validation(path, message),
                }
            }
            _ => ApiError::InvalidJson(inner.to_string()),
        }
    })?;
    de.end().map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    Ok(value)
}

/// serde reports a missing field at the enclosing path; name the field itself.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// serde_json appends " at line 1 column 12" to data errors; the field name says more.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Query string: 422 `validation_failed` naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|err| {
                let path = err.path().to_string();
                ApiError::validation(
                    if path == "." {
                        "query".to_owned()
                    } else {
                        path
                    },
                    err.into_inner(),
                )
            })
    }
}

/// For PATCH fields where `null` means "remove" and absence means "leave as is":
/// `#[serde(default, deserialize_with = "crate::extract::double_option")]`.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// The channel a request names, by hook id: any `X-Hook-Id` headers plus the request's
/// own fields (`(name, value)`, e.g. `("hookId", …)`). They may repeat one hook id;
/// two different ones, or a header that is not ASCII, are a 400 `bad_request` rather
/// than one silently chosen. Verify and the channel endpoints both read it this way.
pub fn named_hook(
    headers: &axum::http::HeaderMap,
    fields: &[(&'static str, Option<&str>)],
) -> Result<Option<String>, ApiError> {
    let mut named: Vec<(&'static str, &str)> = Vec::new();
    for value in headers.get_all("x-hook-id") {
        let value = value.to_str().map_err(|_| {
            ApiError::BadRequest("the X-Hook-Id header holds characters that are not ASCII".into())
        })?;
        named.push(("X-Hook-Id", value));
    }
    named.extend(fields.iter().filter_map(|(from, v)| v.map(|v| (*from, v))));
    let Some(&(first_from, first)) = named.first() else {
        return Ok(None);
    };
    if let Some((from, _)) = named.iter().find(|(_, v)| *v != first) {
        return Err(ApiError::BadRequest(format!(
            "{first_from} and {from} name different channels; send the hook id once"
        )));
    }
    Ok(Some(first.to_owned()))
}
