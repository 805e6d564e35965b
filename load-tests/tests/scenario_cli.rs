//! `floodgate-load scenario` with a bad file: a clear error naming the offending key, exit code 2.

use std::process::Command;

#[test]
fn a_bad_scenario_file_is_refused_by_name() {
    let file = std::env::temp_dir().join(format!("floodgate-bad-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        "[[variant]]\nlimiter = \"gate\"\n[load]\n[[load.phase]]\nrate = 10.0\nduration = \"1s\"\nburst = 3\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_floodgate-load"))
        .arg("scenario")
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown field `burst`"), "{stderr}");
    assert!(
        stderr.contains("floodgate-bad-"),
        "the message names the file: {stderr}"
    );

    let missing = Command::new(env!("CARGO_BIN_EXE_floodgate-load"))
        .args(["scenario", "/nonexistent/scenario.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/scenario.toml"));
}
