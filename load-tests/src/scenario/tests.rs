//! A tiny scenario, end to end: two variants, a second of overload each.

use super::*;

const TINY: &str = r#"
    description = "tiny"
    [server]
    backend_capacity = 4
    delay = "50ms"
    max_concurrency = 4
    max_wait = "50ms"
    [[variant]]
    limiter = "gate"
    [[variant]]
    name = "no limiter"
    limiter = "none"
    [load]
    path = "/slow"
    timeout = "2s"
    [[load.phase]]
    name = "4x"
    times_capacity = 4.0
    duration = "1s"
    [[load.phase]]
    name = "closed"
    concurrency = 2
    duration = "500ms"
"#;

#[test]
fn a_tiny_scenario_runs_end_to_end() {
    let scenario = Scenario::parse(TINY).unwrap();
    let mut narration = Vec::new();
    let results = run_scenario(&scenario, &mut narration, false).unwrap();
    let narration = String::from_utf8(narration).unwrap();
    assert!(narration.contains("[2/2] no limiter"), "{narration}");
    assert!(
        narration.contains("4x: 320/s (4.00x capacity) for 1s"),
        "{narration}"
    );

    let (gate, none) = (&results[0], &results[1]);
    assert_eq!((gate.limiter, none.limiter), ("gate", "none"));
    assert_eq!(gate.capacity_rps, Some(80.0));
    let overload = |r: &VariantResult| r.phases[0].report.clone();
    assert!(overload(gate).rejected() > 50, "{:#?}", overload(gate));
    assert_eq!(overload(none).rejected(), 0, "{:#?}", overload(none));
    // The gate drains: nothing stays in flight or queued once the load has stopped.
    assert_eq!(
        (gate.in_flight_after, gate.queued_after),
        (Some(0), Some(0))
    );
    assert_eq!(none.in_flight_after, None);
    // Two phases of 1 s and 0.5 s: two seconds on the chart.
    assert_eq!(gate.run.timeline.len(), 2);
    assert!(
        gate.run.gauges.iter().any(|g| g.limit == Some(4.0)),
        "{:?}",
        gate.run.gauges
    );

    let markdown = markdown(&scenario, &results);
    assert!(
        markdown.starts_with("tiny\n\n| variant | phase | offered |"),
        "{markdown}"
    );
    assert!(markdown.contains("| gate | 4x | 320/s |"), "{markdown}");
    assert!(
        markdown.contains("| no limiter | closed | 2 workers |"),
        "{markdown}"
    );
    assert!(markdown.contains("| gate | "), "{markdown}");
    assert!(markdown.contains("VmHWM"), "{markdown}");

    let page = report_page("tiny", &scenario, &results);
    assert!(page.contains("<table>") && page.contains("no limiter"));
    assert!(
        page.contains("in flight and limit"),
        "the gate's /metrics was scraped"
    );
    assert!(!page.contains("https://") && !page.contains("<script"));

    let dir = std::env::temp_dir().join(format!("floodgate-scenario-{}", std::process::id()));
    write_svgs(&dir, &results).unwrap();
    for stem in [
        "goodput",
        "success-p99",
        "gate-requests",
        "no-limiter-latency",
    ] {
        let svg = fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.starts_with("<svg xmlns="), "{stem}");
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn timelines_of_phases_follow_each_other() {
    let second = |t, success| Second {
        t,
        success,
        ..Second::default()
    };
    let mut timeline = Vec::new();
    // A phase of 1.5 s takes two seconds; a straggler past its length is dropped.
    append(
        &mut timeline,
        &[second(0, 1), second(1, 2), second(2, 9)],
        Duration::from_millis(1500),
    );
    // A phase whose last second saw no completion is padded.
    append(&mut timeline, &[second(0, 3)], Duration::from_secs(2));
    let got: Vec<(u64, u64)> = timeline.iter().map(|s| (s.t, s.success)).collect();
    assert_eq!(got, [(0, 1), (1, 2), (2, 3), (3, 0)]);
}

#[test]
fn cells_read_well() {
    assert_eq!(latency(Some(1991.0)), "1.99 s");
    assert_eq!(latency(Some(51.25)), "51.2 ms");
    assert_eq!(latency(None), "-");
    assert_eq!(
        describe(Shape::Concurrency(8), 160.0),
        "closed loop, 8 workers"
    );
    assert_eq!(
        describe(Shape::Rate { rate: 80.0, cap: 1 }, 160.0),
        "80/s (0.50x capacity)"
    );
}

/// A ramp from 0 to 200 req/s over 2 s on `/fast`: 200 starts, 50 in the first second and 150
/// in the second.
#[test]
fn a_ramp_raises_the_offered_load_in_a_straight_line() {
    let scenario = Scenario::parse(
        r#"
        [[variant]]
        limiter = "gate"
        [load]
        path = "/fast"
        [[load.phase]]
        name = "ramp"
        shape = "ramp"
        from = 0
        to = 200
        duration = "2s"
        "#,
    )
    .unwrap();
    let mut narration = Vec::new();
    let results = run_scenario(&scenario, &mut narration, false).unwrap();
    let narration = String::from_utf8(narration).unwrap();
    assert!(
        narration.contains("ramp: ramp from 0/s to 200/s"),
        "{narration}"
    );
    let report = &results[0].phases[0].report;
    assert_eq!(
        report.ramp,
        Some(crate::RampReport {
            from: 0.0,
            to: 200.0
        })
    );
    assert_eq!(report.target_rate, Some(100.0));
    let due = report.requests + report.missed + report.aborted + report.deferred;
    assert!(due.abs_diff(200) <= 1, "{report:#?}");
    let per_second: Vec<u64> = report.timeline.iter().map(|s| s.requests).collect();
    assert!(per_second[0] < 80 && per_second[1] > 120, "{per_second:?}");
    let table = results_table(&results, SCENARIO_COLUMNS).markdown();
    assert!(table.contains("| gate | ramp | 0/s to 200/s |"), "{table}");
}
