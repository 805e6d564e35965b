//! `floodgate-load demo`: a built-in scenario, `scenarios/demo.toml`, run by the scenario runner
//! and told as a story.
//!
//! The backend behind `/slow` has 8 slots held for 50 ms each, so it serves at most 160 req/s.
//! Clients give up after 2 s, as real ones do. The load is open loop, so it keeps arriving at the
//! offered rate whatever the server does:
//!
//! 1. under capacity (80 req/s), through the gate with its default FIFO queue;
//! 2. four times the capacity (640 req/s), through the same gate;
//! 3. the same overload through a gate with a CoDel queue;
//! 4. the same overload without the gate.

use std::io::{self, Write};
use std::path::Path;

use crate::printer::{GLUE, thousands, wrap};
use crate::scenario::{self, Column, Scenario, VariantResult, latency, results_table};
use crate::{DemoOpts, Error, Exit, write_json_to};

/// The story, as a scenario file (also runnable with `floodgate-load scenario`).
const STORY: &str = include_str!("../scenarios/demo.toml");

/// The columns of the story's table.
const COLUMNS: &[Column] = &[
    Column::Variant,
    Column::Phase,
    Column::Offered,
    Column::Goodput,
    Column::Rejected,
    Column::Timeouts,
    Column::SuccessP50,
    Column::SuccessP99,
    Column::RejectedP50,
];

/// The built-in scenario.
pub(crate) fn story() -> Scenario {
    Scenario::parse(STORY).expect("the built-in demo scenario is valid")
}

/// Runs the story and prints its table.
pub(crate) fn run(opts: &DemoOpts) -> Result<Exit, Error> {
    let story = story();
    let settings = &story.variants[0].server;
    let json_to_stdout = opts.json.as_deref() == Some(Path::new("-"));
    let mut narration = io::stderr();
    let _ = writeln!(
        narration,
        "floodgate demo: /slow holds one of {} backend slots for {} ms, so the backend serves at \
         most {} req/s.\nClients give up after {} s. The load is open loop: it keeps arriving at \
         the offered rate, whatever the server does.\n",
        settings.backend_capacity,
        settings.delay.as_millis(),
        thousands(settings.capacity() as u64),
        story.load.timeout.as_secs()
    );
    let results = scenario::run_scenario(&story, &mut narration, true)?;
    let _ = writeln!(narration);

    let table = |w: &mut dyn Write| -> io::Result<()> {
        w.write_all(results_table(&results, COLUMNS).text(2).as_bytes())?;
        writeln!(w)?;
        for line in wrap(&conclusion(&story, &results), 100) {
            writeln!(w, "{line}")?;
        }
        w.flush()
    };
    let printed = if json_to_stdout {
        table(&mut io::stderr().lock())
    } else {
        table(&mut io::stdout().lock())
    };
    printed.map_err(|source| Error::Output {
        what: "the demo table".to_owned(),
        source,
    })?;
    if let Some(path) = &opts.json {
        write_json_to(path, &results)?;
    }
    Ok(Exit::Success)
}

/// The plain sentences under the table, from the three overload rows: the last phase of each
/// variant (FIFO gate, CoDel gate, no gate).
///
/// A number and its unit are joined by [`GLUE`], so that [`wrap`] keeps them on one line.
fn conclusion(story: &Scenario, results: &[VariantResult]) -> String {
    let overload = |i: usize| {
        &results[i]
            .phases
            .last()
            .expect("every variant runs a phase")
            .report
    };
    let (fifo, codel, none) = (overload(0), overload(1), overload(2));
    let glued = |text: String| text.replace(' ', GLUE);
    let rate =
        |r: &crate::Report| glued(format!("{} req/s", thousands(r.success_rps.round() as u64)));
    let p99 = |r: &crate::Report| glued(latency(r.success_latency_ms.p99));
    let no = |r: &crate::Report| glued(latency(r.rejected_latency_ms.p50));
    let settings = &story.variants[0].server;
    format!(
        "With the gate, the backend kept serving {} with a p99 of {} ({} of work, at most {} in \
         the gate's queue) and answered the excess with 503 and Retry-After, after {} (median). \
         With a CoDel queue the standing queue is cut short: {} with a p99 of {}, and the excess \
         heard 503 after {}. Without the gate, the same overload piled up in the backend, {} \
         requests timed out, and goodput fell to {} with a p99 of {}.",
        rate(fifo),
        p99(fifo),
        glued(format!("{} ms", settings.delay.as_millis())),
        glued(format!("{} ms", settings.max_wait.as_millis())),
        no(fifo),
        rate(codel),
        p99(codel),
        no(codel),
        thousands(none.errors.timeout),
        rate(none),
        p99(none),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use floodgate_demo::Limiter;

    use super::*;
    use crate::scenario::per_second;

    #[test]
    fn the_story_fits_in_thirty_seconds() {
        let story = story();
        let total: Duration = story
            .variants
            .iter()
            .flat_map(|v| v.phases_of(&story.load))
            .map(|p| p.duration)
            .sum();
        assert!(total <= Duration::from_secs(25), "{total:?}");
        let [fifo, codel, none] = &story.variants[..] else {
            panic!("three variants: {:?}", story.variants)
        };
        assert_eq!(fifo.server.capacity(), 160.0);
        // The same overload for the three, through the gate (FIFO, CoDel) and without it.
        let overload = |v: &crate::Variant| v.phases_of(&story.load).last().cloned().unwrap();
        assert_eq!(overload(fifo), overload(codel));
        assert_eq!(overload(fifo), overload(none));
        assert_eq!(overload(fifo).shape.rate(160.0), Some(640.0));
        assert_eq!(fifo.phases_of(&story.load).count(), 2);
        assert_eq!(
            (
                fifo.server.limiter,
                codel.server.limiter,
                none.server.limiter
            ),
            (Limiter::Gate, Limiter::Gate, Limiter::None)
        );
        assert_eq!(
            (
                fifo.server.adaptive.queue.as_str(),
                codel.server.adaptive.queue.as_str()
            ),
            ("fifo", "codel")
        );
        assert_eq!(codel.server.capacity(), 160.0);
    }

    #[test]
    fn latencies_read_well() {
        assert_eq!(latency(Some(149.3)), "149 ms");
        assert_eq!(latency(Some(1991.0)), "1.99 s");
        assert_eq!(latency(Some(51.25)), "51.2 ms");
        assert_eq!(per_second(159.6), "160/s");
    }

    /// The story in short (a second per overload phase): the gate answers the excess with 503s,
    /// the ungated app queues it, so its successful requests wait far longer; CoDel answers both
    /// the admitted and the rejected sooner than FIFO.
    #[test]
    fn a_short_story_shows_the_gate_at_work() {
        let mut story = story();
        for phase in &mut story.load.phases {
            phase.duration = if phase.name == "under capacity" {
                Duration::from_millis(300)
            } else {
                Duration::from_secs(1)
            };
        }
        let mut narration = Vec::new();
        let results = scenario::run_scenario(&story, &mut narration, false).unwrap();
        let narration = String::from_utf8(narration).unwrap();
        assert!(narration.contains("[3/3] no gate"), "{narration}");
        assert!(
            narration.contains("4x capacity: 640/s (4.00x capacity) for 1s"),
            "{narration}"
        );

        let report = |v: usize, p: usize| &results[v].phases[p].report;
        let (under, gated, codel, ungated) =
            (report(0, 0), report(0, 1), report(1, 0), report(2, 0));
        assert_eq!(under.rejected(), 0, "{under:#?}");
        assert!(gated.rejected() > 100, "{gated:#?}");
        assert!(codel.rejected() > 100, "{codel:#?}");
        assert_eq!(ungated.rejected(), 0, "{ungated:#?}");
        // Gated: at most max_wait (100 ms) in the queue plus 50 ms of work. Ungated: after one
        // second at 4x, the newest requests wait about 750 ms.
        let gated_p99 = gated.success_latency_ms.p99.unwrap();
        let ungated_p99 = ungated.success_latency_ms.p99.unwrap();
        assert!(
            ungated_p99 > gated_p99 * 2.0,
            "{gated_p99} ms vs {ungated_p99} ms"
        );
        // CoDel: once the queue stands (after half of max_wait), requests wait 5 ms at most
        // instead of the whole 100 ms, admitted and rejected alike.
        let p50 = |r: &crate::Report| r.success_latency_ms.p50.unwrap();
        assert!(p50(codel) < p50(gated), "{} vs {}", p50(codel), p50(gated));
        let no = |r: &crate::Report| r.rejected_latency_ms.p50.unwrap();
        assert!(no(codel) < no(gated), "{} vs {}", no(codel), no(gated));

        let table = results_table(&results, COLUMNS).text(2);
        assert_eq!(table.lines().count(), 5, "{table}");
        assert!(table.contains("gate, CoDel queue"), "{table}");
        assert!(
            table.lines().next().unwrap().ends_with("503/429 p50"),
            "{table}"
        );
        assert!(
            conclusion(&story, &results).starts_with("With the gate, the backend kept serving")
        );
    }
}
