//! What a request the rate limit turned away is answered with.

use http::{HeaderMap, Response};

use super::rejection::Rejection;
use crate::middleware::respond::plain_text;
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
}
