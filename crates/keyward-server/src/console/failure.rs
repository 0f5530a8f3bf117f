//! What a console page answers when something goes wrong: the API's error (the same
//! stable code, status and message as the JSON API gives) as an HTML page.

use super::shell;
use crate::errors::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub struct Failure(pub ApiError);

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure(e)
    }
}

impl From<keyward_store::StoreError> for Failure {
    fn from(e: keyward_store::StoreError) -> Self {
        Failure(e.into())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        page(self.0.problem())
    }
}

/// The error page for `problem`, with its status.
pub fn page(problem: crate::errors::Problem) -> Response {
    {
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = shell::bare(
            &problem.title,
            maud::html! {
                h1 { (problem.title) }
                p role="alert" { (problem.detail) }
                p class="muted" { "Error code " code { (problem.code.as_str()) } }
                p { a href="/console" { "Back to the console" } }
            },
        );
        (status, body).into_response()
    }
}

pub type PageResult = Result<Response, Failure>;
