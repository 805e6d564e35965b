//! What a request the rate limit turned away is answered with.

use http::{HeaderMap, Response, StatusCode};

use super::rejection::Rejection;
use crate::middleware::respond::{grpc, plain_text};
use crate::middleware::{self, ResponseBody, Sealed};

impl Sealed for Rejection {}

/// The rate limit's answer: the rejection's status (`429`, or `400`/`500` for a missing key or
/// peer address) and its fields (`Retry-After`, `RateLimit-Policy`, `RateLimit`).
impl middleware::Rejection for Rejection {
    fn default_response<B, G>(&self) -> Response<ResponseBody<B, G>> {
        let mut response = plain_text(self.status(), self.message());
        self.complete(response.headers_mut());
        response
    }

    fn complete(&self, headers: &mut HeaderMap) {
        self.insert_missing_headers(headers);
    }

    /// `RESOURCE_EXHAUSTED` (8) over the rate; `INVALID_ARGUMENT` (3) for a missing key under
    /// `MissingKey::BadRequest`; `INTERNAL` (13) for a missing peer address.
    fn default_grpc_response<B, G>(&self) -> Response<ResponseBody<B, G>> {
        let code = match self.status() {
            StatusCode::TOO_MANY_REQUESTS => 8,
            StatusCode::BAD_REQUEST => 3,
            _ => 13,
        };
        let mut response = grpc(code, self.message(), self.retry_after());
        self.complete(response.headers_mut());
        response
    }
}
