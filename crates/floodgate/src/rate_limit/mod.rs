//! The token-bucket rate limit: [`RateLimitLayer`], its keys, rejections and stats.

mod body;
mod client_ip;
mod clock;
mod evict;
mod future;
mod handle;
mod headers;
mod key;
mod layer;
mod limiter;
#[cfg(feature = "metrics")]
mod metrics;
mod quota;
mod reject;
mod rejection;
mod service;
mod snapshot;
mod spec;
mod wait;

pub use self::body::RateLimitBody;
pub use self::client_ip::ClientIp;
pub use self::future::RateLimitFuture;
pub use self::handle::RateLimiter;
pub use self::key::{Global, HeaderKey, KeyExtractor, MissingKey, PeerIp, RequestHead};
pub use self::layer::RateLimitLayer;
pub use self::quota::Quota;
pub use self::reject::{DefaultOnRateLimited, OnRateLimited};
pub use self::rejection::{RateLimitReason, RateLimitRejection};
pub use self::service::RateLimitService;
pub use self::snapshot::RateLimitSnapshot;
pub use self::spec::{ClientKey, KeySpec, ParseKeySpecError};
pub use ipnet::IpNet;
