//! The process's memory, from `/proc/self/status` (Linux; `None` elsewhere).

/// Resident set size now (`VmRSS`), in bytes.
pub(crate) fn current() -> Option<u64> {
    field("VmRSS:")
}

/// Largest resident set size since the process started (`VmHWM`), in bytes. Cumulative: it never
/// goes down, so in one process it is the peak of everything run so far.
pub(crate) fn peak() -> Option<u64> {
    field("VmHWM:")
}

fn field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse(&status, name)
}

/// Finds `name  1234 kB` in `status` and returns it in bytes.
fn parse(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    let kb: u64 = line[name.len()..]
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// `12.3 MiB`.
pub(crate) fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "-".to_owned(),
        |b| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_status_lines() {
        let status = "Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(parse(status, "VmRSS:"), Some(1024 * 1024));
        assert_eq!(parse(status, "VmHWM:"), Some(2048 * 1024));
        assert_eq!(parse(status, "VmSwap:"), None);
        assert_eq!(mib(Some(3 * 1024 * 1024 / 2)), "1.5 MiB");
        assert_eq!(mib(None), "-");
        if cfg!(target_os = "linux") {
            assert!(current().unwrap() > 0 && peak().unwrap() >= current().unwrap());
        }
    }
}
