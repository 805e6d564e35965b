//! The reqwest engine: complete HTTP (https, HTTP/2, proxies), one `Client` per runtime thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use reqwest::redirect::Policy;
use reqwest::{Body, Client};

use super::{Engine, EngineError, ErrorKind, Outcome, RequestSpec, Response, Worker, proxied};

/// reqwest with redirects off; every runtime thread gets its own `Client` (and connection pool),
/// measured faster than one shared `Client` on a multi-thread runtime.
#[derive(Debug, Clone)]
pub(crate) struct ReqwestEngine {
    spec: Arc<RequestSpec>,
    client: Client,
    /// Whether the proxy environment applies to the URL; when not, clients skip the per-request
    /// proxy matching.
    proxied: bool,
    /// Body bytes sent by every worker of every thread.
    sent: Arc<AtomicU64>,
    /// The next of the URLs, round-robin across every worker of every thread.
    next: Arc<AtomicUsize>,
}

impl ReqwestEngine {
    /// Builds a first client, so that a configuration problem shows before the run.
    pub(crate) fn new(spec: &RequestSpec) -> Result<Self, EngineError> {
        install_crypto_provider();
        let proxied = spec.urls.iter().any(proxied);
        Ok(Self {
            spec: Arc::new(spec.clone()),
            client: build_client(proxied, spec.http2)?,
            proxied,
            sent: Arc::new(AtomicU64::new(0)),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }
}

/// rustls needs a process-wide crypto provider; ring builds far faster than aws-lc.
fn install_crypto_provider() {
    // An error only means that a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn build_client(proxied: bool, http2: bool) -> Result<Client, EngineError> {
    let mut builder = Client::builder().redirect(Policy::none()).tcp_nodelay(true);
    if !proxied {
        builder = builder.no_proxy();
    }
    if http2 {
        builder = builder.http2_prior_knowledge();
    }
    builder
        .build()
        .map_err(|err| EngineError::Client(err.to_string()))
}

impl Engine for ReqwestEngine {
    type Worker = ReqwestWorker;

    const NAME: &'static str = "reqwest";

    fn for_thread(&self) -> Result<Self, EngineError> {
        Ok(Self {
            spec: Arc::clone(&self.spec),
            client: build_client(self.proxied, self.spec.http2)?,
            proxied: self.proxied,
            sent: Arc::clone(&self.sent),
            next: Arc::clone(&self.next),
        })
    }

    fn worker(&self) -> ReqwestWorker {
        ReqwestWorker {
            spec: Arc::clone(&self.spec),
            client: self.client.clone(),
            sent: Arc::clone(&self.sent),
            next: Arc::clone(&self.next),
        }
    }

    fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

/// A handle on the thread's client; connections come from its pool.
#[derive(Debug)]
pub(crate) struct ReqwestWorker {
    spec: Arc<RequestSpec>,
    client: Client,
    sent: Arc<AtomicU64>,
    next: Arc<AtomicUsize>,
}

impl Worker for ReqwestWorker {
    async fn send(&mut self) -> Outcome {
        let spec = &*self.spec;
        let url = &spec.urls[self.next.fetch_add(1, Ordering::Relaxed) % spec.urls.len()];
        let mut request = self
            .client
            .request(spec.method.clone(), url.clone())
            .headers(spec.headers.clone());
        if !spec.body.is_empty() {
            request = request.body(Body::wrap(spec.body.body(&self.sent)));
        }
        let mut response = request.send().await.map_err(classify)?;
        let result = Response::new(response.status(), response.headers());
        while response.chunk().await.map_err(classify)?.is_some() {}
        Ok(result)
    }
}

fn classify(err: reqwest::Error) -> ErrorKind {
    if err.is_timeout() {
        ErrorKind::Timeout
    } else if err.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Other
    }
}
