//! The response body: the inner body, or a rejection message.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// Response body of [`RateLimitService`](crate::RateLimitService): the inner service's body
    /// for an admitted request, or the short plain-text message of a default rejection.
    pub struct RateLimitBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner {
            #[pin]
            body: B,
        },
        Message {
            message: Option<Bytes>,
        },
    }
}

impl<B> RateLimitBody<B> {
    /// The inner service's body.
    pub(crate) fn new(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    /// A fixed message (the default rejection body).
    pub(crate) fn message(message: &'static str) -> Self {
        Self {
            kind: Kind::Message {
                message: Some(Bytes::from_static(message.as_bytes())),
            },
        }
    }
}

impl<B> Body for RateLimitBody<B>
where
    B: Body,
    B::Data: From<Bytes>,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Message { message } => {
                Poll::Ready(message.take().map(|bytes| Ok(Frame::data(bytes.into()))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Message { message } => message.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Message { message } => {
                SizeHint::with_exact(message.as_ref().map_or(0, |bytes| bytes.len() as u64))
            }
        }
    }
}

impl<B> std::fmt::Debug for RateLimitBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Inner { .. } => "inner",
            Kind::Message { .. } => "rejection",
        };
        f.debug_struct("RateLimitBody")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full};

    use super::*;

    #[tokio::test]
    async fn message_body_yields_the_message_once() {
        let body = RateLimitBody::<Full<Bytes>>::message("slow down\n");
        assert_eq!(body.size_hint().exact(), Some(10));
        assert!(!body.is_end_stream());
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes, "slow down\n");
    }

    #[tokio::test]
    async fn inner_body_passes_through() {
        let body = RateLimitBody::new(Full::new(Bytes::from_static(b"hello")));
        assert_eq!(
            format!("{body:?}"),
            r#"RateLimitBody { kind: "inner", .. }"#
        );
        assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
    }
}
