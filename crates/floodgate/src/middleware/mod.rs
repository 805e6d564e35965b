//! The gate as tower middleware: [`GateLayer`], [`GateService`], its response future and body.

mod body;
mod future;
mod layer;
mod reject;
mod service;

pub use self::body::GateBody;
pub use self::future::ResponseFuture;
pub use self::layer::GateLayer;
pub use self::reject::{Bypass, DefaultOnReject, NoBypass, OnReject};
pub use self::service::GateService;
