//! Per-request work of the gate in instructions, for a figure that a busy machine cannot blur.
//!
//! Run with: `cargo bench -p floodgate --bench instructions -- VARIANT N`, where `VARIANT` is
//! `bare`, `concurrency-limit`, `gate` or `gate-rejected`, and `N` the number of requests.
//! Under `valgrind --tool=callgrind` (or `perf stat -e instructions`), two runs with different
//! `N` give the instructions per request: the difference of the totals over the difference of
//! the counts, free of start-up costs.

mod support;

use std::convert::Infallible;
use std::hint::black_box;

use floodgate::GateLayer;
use http::{Request, Response};
use support::call_now;
use tower::limit::ConcurrencyLimitLayer;
use tower::{Layer, Service, service_fn};

fn bare() -> impl Service<Request<()>, Response = Response<&'static str>, Error = Infallible> + Clone
{
    service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new("ok")) })
}

fn run<S>(mut service: S, requests: u64)
where
    S: Service<Request<()>>,
    S::Error: std::fmt::Debug,
{
    for _ in 0..requests {
        black_box(call_now(&mut service, Request::new(())));
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(variant), Some(requests)) = (args.first(), args.get(1)) else {
        eprintln!("usage: instructions bare|concurrency-limit|gate|gate-rejected N");
        return;
    };
    let requests: u64 = requests.parse().expect("N is a number");
    match variant.as_str() {
        "bare" => run(bare(), requests),
        "concurrency-limit" => run(ConcurrencyLimitLayer::new(1024).layer(bare()), requests),
        "gate" => run(GateLayer::new(1024).layer(bare()), requests),
        "gate-rejected" => {
            let layer = GateLayer::new(1).max_queue(0);
            let held = support::hold_only_permit(layer.gate());
            run(layer.layer(bare()), requests);
            drop(held);
        }
        other => eprintln!("unknown variant {other}"),
    }
}
