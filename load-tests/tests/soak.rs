//! A 20 s soak through the gate at four times the backend's capacity, in its own process (so the
//! memory figures are the soak's alone): memory must not grow after the warm-up, and nothing may
//! stay in flight or queued once the load stops. The 5-minute version is
//! `scenarios/soak.toml`, run by hand.

use std::path::Path;
use std::process::Command;

#[test]
fn twenty_seconds_at_four_times_capacity_leak_nothing() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let json = std::env::temp_dir().join(format!("floodgate-soak-{}.json", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_floodgate-load"))
        .arg("scenario")
        .arg(dir.join("tests/soak-20s.toml"))
        .arg("--no-progress")
        .arg("--json")
        .arg(&json)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("the JSON report");
    std::fs::remove_file(&json).expect("removed");
    let results: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let gate = &results[0];
    assert_eq!(gate["limiter"], "gate");

    let phases = gate["phases"].as_array().expect("phases");
    let rss = |i: usize| phases[i]["rss_after"].as_f64().expect("RSS on Linux");
    let (warm, end) = (rss(0), rss(1));
    assert!(
        end <= warm * 1.2,
        "RSS grew from {warm} to {end} bytes\n{stdout}"
    );

    let soak = &phases[1]["report"];
    assert!(soak["status"]["503"].as_u64().unwrap_or(0) > 0, "{stdout}");
    assert!(soak["status"]["200"].as_u64().unwrap_or(0) > 0, "{stdout}");
    assert_eq!(gate["in_flight_after"], 0, "{stdout}");
    assert_eq!(gate["queued_after"], 0, "{stdout}");
}
