//! The scenario file: TOML, parsed with serde, unknown keys refused.
//!
//! ```toml
//! description = "4x the backend's capacity on /slow"
//!
//! [server]                 # the demo app's settings shared by every variant
//! backend_capacity = 8
//! delay = "50ms"
//! max_concurrency = 8
//! max_wait = "100ms"
//! queue = "fifo"           # the gate's queue: fifo, lifo or codel
//! limit_algorithm = "fixed"  # or aimd, gradient2, vegas (max_concurrency is the ceiling)
//!
//! [[variant]]              # one server per variant, run one after the other
//! limiter = "gate"
//!
//! [[variant]]
//! name = "gate, CoDel queue"
//! limiter = "gate"
//! server = { queue = "codel" }     # overrides for this variant only
//! phases = ["4x"]          # only these phases of the load (default: all of them)
//!
//! [load]
//! path = "/slow"
//! timeout = "2s"
//!
//! [[load.phase]]           # phases run back to back against the same server
//! name = "4x"
//! times_capacity = 4.0     # or `rate = 640` (open loop) or `concurrency = 64` (closed loop)
//! duration = "10s"
//!
//! [[load.phase]]
//! name = "ramp"
//! shape = "ramp"           # open loop, the rate in a straight line over the duration
//! from_times_capacity = 0.5  # or `from = 80` (req/s); from may be 0
//! to_times_capacity = 4.0    # or `to = 640`
//! duration = "20s"
//! ```

use std::fmt;
use std::path::Path;
use std::time::Duration;

use clap::ValueEnum;
use floodgate_demo::{AdaptiveConfig, Algorithm, Config, Limiter};
use serde::{Deserialize, Deserializer};

/// Open-loop client cap: high enough that the client never holds the load back.
const OPEN_LOOP_CAP: usize = 4096;

/// A parsed and checked scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// What the scenario shows, one line.
    pub description: String,
    /// The variants, in file order.
    pub variants: Vec<Variant>,
    /// The load every variant gets.
    pub load: Load,
}

/// One server to compare.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// The name in the table (the limiter's name unless given).
    pub name: String,
    /// The demo app's settings for this variant (shared settings plus overrides).
    pub server: ServerSettings,
    /// The names of the load phases this variant runs, in the load's order; `None`: all.
    pub phases: Option<Vec<String>>,
}

impl Variant {
    /// The phases of `load` this variant runs.
    pub fn phases_of<'a>(&'a self, load: &'a Load) -> impl Iterator<Item = &'a Phase> + 'a {
        load.phases.iter().filter(move |phase| {
            self.phases
                .as_ref()
                .is_none_or(|names| names.contains(&phase.name))
        })
    }
}

/// The subset of the demo app's [`Config`] a scenario sets; the rest keeps its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSettings {
    /// What guards `/slow` and `/fast`.
    pub limiter: Limiter,
    /// Slots of the simulated backend behind `/slow`.
    pub backend_capacity: usize,
    /// Work time of `/slow`.
    pub delay: Duration,
    /// The limiter's concurrency limit.
    pub max_concurrency: usize,
    /// The gate's bounded wait for a permit.
    pub max_wait: Duration,
    /// Waiters beyond this are rejected at once.
    pub max_queue: usize,
    /// `Retry-After` on rejections.
    pub retry_after: Duration,
    /// The gate's limit algorithm and queue discipline (`limit_algorithm`, `queue`).
    pub adaptive: AdaptiveConfig,
}

impl ServerSettings {
    /// The backend's capacity on `/slow`, in requests per second.
    pub fn capacity(&self) -> f64 {
        self.backend_capacity as f64 / self.delay.as_secs_f64()
    }

    /// The demo app's configuration.
    pub fn config(&self) -> Config {
        Config {
            limiter: self.limiter,
            backend_capacity: self.backend_capacity,
            delay: self.delay,
            max_concurrency: self.max_concurrency,
            max_wait: self.max_wait,
            max_queue: self.max_queue,
            retry_after: self.retry_after,
            adaptive: self.adaptive,
            shutdown_grace: Duration::from_millis(100),
            // Room for every connection the load may open (the open-loop cap): the scenarios
            // compare request-level limiters, so the connection limit must not take part.
            max_connections: 2 * OPEN_LOOP_CAP,
            ..Config::default()
        }
    }
}

/// The load profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// Path and query on the variant's server, e.g. `/slow`.
    pub path: String,
    /// Per-request client timeout.
    pub timeout: Duration,
    /// The phases, run back to back.
    pub phases: Vec<Phase>,
}

/// One phase of the load profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// The name in the table.
    pub name: String,
    /// Open or closed loop.
    pub shape: Shape,
    /// How long the phase lasts.
    pub duration: Duration,
}

/// How a phase sends its requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// Open loop at a fixed rate; `cap` requests in flight at most.
    Rate {
        /// Requests per second.
        rate: f64,
        /// The client's in-flight cap.
        cap: usize,
    },
    /// Open loop at a multiple of the variant's backend capacity.
    TimesCapacity {
        /// The multiple.
        times: f64,
        /// The client's in-flight cap.
        cap: usize,
    },
    /// Closed loop with this many workers.
    Concurrency(usize),
    /// Open loop, the rate going in a straight line from `from` to `to` over the phase.
    Ramp {
        /// The rate at the start of the phase.
        from: Level,
        /// The rate at its end.
        to: Level,
        /// The client's in-flight cap.
        cap: usize,
    },
}

/// An open-loop rate: absolute, or a multiple of the variant's backend capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Level {
    /// Requests per second.
    Rate(f64),
    /// A multiple of the backend's capacity.
    TimesCapacity(f64),
}

impl Level {
    /// Requests per second against a server of `capacity` req/s.
    pub fn rate(self, capacity: f64) -> f64 {
        match self {
            Level::Rate(rate) => rate,
            Level::TimesCapacity(times) => times * capacity,
        }
    }
}

impl Shape {
    /// The open-loop rate against a server of `capacity` req/s (a ramp's mean rate); `None` in
    /// closed loop.
    pub fn rate(&self, capacity: f64) -> Option<f64> {
        match *self {
            Shape::Rate { rate, .. } => Some(rate),
            Shape::TimesCapacity { times, .. } => Some(times * capacity),
            Shape::Concurrency(_) => None,
            Shape::Ramp { from, to, .. } => Some((from.rate(capacity) + to.rate(capacity)) / 2.0),
        }
    }

    /// A ramp's first and last rate against a server of `capacity` req/s; `None` otherwise.
    pub fn ramp(&self, capacity: f64) -> Option<(f64, f64)> {
        match *self {
            Shape::Ramp { from, to, .. } => Some((from.rate(capacity), to.rate(capacity))),
            _ => None,
        }
    }
}

/// Why a scenario file was refused.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ScenarioError {
    path: String,
    message: String,
}

impl Scenario {
    /// Reads and checks the scenario at `path`.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let error = |message: String| ScenarioError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|err| error(err.to_string()))?;
        Self::parse(&text).map_err(error)
    }

    /// Parses and checks a scenario from TOML text; the error names the offending key or value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|err| err.to_string().trim().to_owned())?;
        file.check()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    description: String,
    #[serde(default)]
    server: ServerFile,
    #[serde(rename = "variant")]
    variants: Vec<VariantFile>,
    load: LoadFile,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    backend_capacity: Option<usize>,
    #[serde(default, deserialize_with = "duration")]
    delay: Option<Duration>,
    max_concurrency: Option<usize>,
    #[serde(default, deserialize_with = "duration")]
    max_wait: Option<Duration>,
    max_queue: Option<usize>,
    #[serde(default, deserialize_with = "duration")]
    retry_after: Option<Duration>,
    queue: Option<String>,
    limit_algorithm: Option<String>,
}

impl ServerFile {
    /// `self`, with every setting `over` gives replaced.
    fn overridden_by(self, over: Self) -> Self {
        Self {
            backend_capacity: over.backend_capacity.or(self.backend_capacity),
            delay: over.delay.or(self.delay),
            max_concurrency: over.max_concurrency.or(self.max_concurrency),
            max_wait: over.max_wait.or(self.max_wait),
            max_queue: over.max_queue.or(self.max_queue),
            retry_after: over.retry_after.or(self.retry_after),
            queue: over.queue.or(self.queue),
            limit_algorithm: over.limit_algorithm.or(self.limit_algorithm),
        }
    }

    fn settings(self, limiter: Limiter) -> Result<ServerSettings, String> {
        let defaults = Config::default();
        let queue = match &self.queue {
            Some(name) => name
                .parse()
                .map_err(|_| format!("server.queue {name:?} is not one of fifo, lifo, codel"))?,
            None => defaults.adaptive.queue,
        };
        let limit_algorithm = match &self.limit_algorithm {
            Some(name) => Algorithm::from_str(name, true).map_err(|_| {
                format!(
                    "server.limit_algorithm {name:?} is not one of fixed, aimd, gradient2, vegas"
                )
            })?,
            None => defaults.adaptive.limit_algorithm,
        };
        let settings = ServerSettings {
            limiter,
            backend_capacity: self.backend_capacity.unwrap_or(defaults.backend_capacity),
            delay: self.delay.unwrap_or(defaults.delay),
            max_concurrency: self.max_concurrency.unwrap_or(defaults.max_concurrency),
            max_wait: self.max_wait.unwrap_or(defaults.max_wait),
            max_queue: self.max_queue.unwrap_or(defaults.max_queue),
            retry_after: self.retry_after.unwrap_or(defaults.retry_after),
            adaptive: AdaptiveConfig {
                queue,
                limit_algorithm,
                ..defaults.adaptive
            },
        };
        for (key, value) in [
            ("backend_capacity", settings.backend_capacity),
            ("max_concurrency", settings.max_concurrency),
        ] {
            if value == 0 {
                return Err(format!("server.{key} must be at least 1"));
            }
        }
        if settings.retry_after < Duration::from_secs(1) {
            return Err("server.retry_after must be at least 1s".to_owned());
        }
        Ok(settings)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantFile {
    name: Option<String>,
    limiter: String,
    #[serde(default)]
    server: ServerFile,
    phases: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadFile {
    #[serde(default = "default_path")]
    path: String,
    #[serde(default, deserialize_with = "duration")]
    timeout: Option<Duration>,
    #[serde(rename = "phase")]
    phases: Vec<PhaseFile>,
}

fn default_path() -> String {
    "/slow".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhaseFile {
    name: Option<String>,
    rate: Option<f64>,
    times_capacity: Option<f64>,
    concurrency: Option<usize>,
    /// `"ramp"`, or absent for a steady phase.
    shape: Option<String>,
    from: Option<f64>,
    to: Option<f64>,
    from_times_capacity: Option<f64>,
    to_times_capacity: Option<f64>,
    #[serde(deserialize_with = "required_duration")]
    duration: Duration,
}

impl File {
    fn check(self) -> Result<Scenario, String> {
        if self.variants.is_empty() {
            return Err("at least one [[variant]] is required".to_owned());
        }
        if !self.load.path.starts_with('/') {
            return Err(format!(
                "load.path {:?} must start with '/'",
                self.load.path
            ));
        }
        if self.load.phases.is_empty() {
            return Err("at least one [[load.phase]] is required".to_owned());
        }
        let phases = self
            .load
            .phases
            .into_iter()
            .enumerate()
            .map(|(i, p)| p.check(i))
            .collect::<Result<Vec<_>, String>>()?;
        let variants = self
            .variants
            .into_iter()
            .map(|v| {
                let limiter = Limiter::from_str(&v.limiter, true).map_err(|_| {
                    format!(
                        "variant.limiter {:?} is not one of gate, none, tower-limit, tower-shed",
                        v.limiter
                    )
                })?;
                let name = v.name.unwrap_or_else(|| limiter.to_string());
                if let Some(names) = &v.phases {
                    if names.is_empty() {
                        return Err(format!("variant {name:?}: phases = [] runs nothing"));
                    }
                    if let Some(unknown) =
                        names.iter().find(|&n| !phases.iter().any(|p| &p.name == n))
                    {
                        return Err(format!(
                            "variant {name:?}: no [[load.phase]] is named {unknown:?}"
                        ));
                    }
                }
                Ok(Variant {
                    server: self
                        .server
                        .clone()
                        .overridden_by(v.server)
                        .settings(limiter)?,
                    name,
                    phases: v.phases,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Scenario {
            description: self.description,
            variants,
            load: Load {
                path: self.load.path,
                timeout: self.load.timeout.unwrap_or(Duration::from_secs(2)),
                phases,
            },
        })
    }
}

impl PhaseFile {
    fn check(self, index: usize) -> Result<Phase, String> {
        let name = self.name.unwrap_or_else(|| format!("phase {}", index + 1));
        let positive = |key: &str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(value)
            } else {
                Err(format!("phase {name:?}: {key} must be > 0, not {value}"))
            }
        };
        let cap = self.concurrency.unwrap_or(OPEN_LOOP_CAP);
        if cap == 0 {
            return Err(format!("phase {name:?}: concurrency must be at least 1"));
        }
        let level = |key: &str, rate: Option<f64>, times: Option<f64>| {
            let not_negative = |key: &str, value: f64| {
                if value.is_finite() && value >= 0.0 {
                    Ok(value)
                } else {
                    Err(format!("phase {name:?}: {key} must be >= 0, not {value}"))
                }
            };
            match (rate, times) {
                (Some(rate), None) => not_negative(key, rate).map(Level::Rate),
                (None, Some(times)) => {
                    not_negative(&format!("{key}_times_capacity"), times).map(Level::TimesCapacity)
                }
                (Some(_), Some(_)) => Err(format!(
                    "phase {name:?}: give {key} or {key}_times_capacity, not both"
                )),
                (None, None) => Err(format!(
                    "phase {name:?}: a ramp needs {key} (req/s) or {key}_times_capacity"
                )),
            }
        };
        let ramp_keys = [
            self.from,
            self.to,
            self.from_times_capacity,
            self.to_times_capacity,
        ];
        match self.shape.as_deref() {
            Some("ramp") => {
                if self.rate.is_some() || self.times_capacity.is_some() {
                    return Err(format!(
                        "phase {name:?}: a ramp takes from/to, not rate or times_capacity"
                    ));
                }
                let from = level("from", self.from, self.from_times_capacity)?;
                let to = level("to", self.to, self.to_times_capacity)?;
                if from.rate(1.0) == 0.0 && to.rate(1.0) == 0.0 {
                    return Err(format!("phase {name:?}: a ramp from 0 to 0 sends nothing"));
                }
                return Ok(Phase {
                    name,
                    shape: Shape::Ramp { from, to, cap },
                    duration: self.duration,
                });
            }
            Some(other) => {
                return Err(format!(
                    "phase {name:?}: shape {other:?} is not \"ramp\" (leave it out for a steady \
                     phase)"
                ));
            }
            None if ramp_keys.iter().any(Option::is_some) => {
                return Err(format!("phase {name:?}: from and to need shape = \"ramp\""));
            }
            None => {}
        }
        let shape = match (self.rate, self.times_capacity) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "phase {name:?}: give rate or times_capacity, not both"
                ));
            }
            (Some(rate), None) => Shape::Rate {
                rate: positive("rate", rate)?,
                cap,
            },
            (None, Some(times)) => Shape::TimesCapacity {
                times: positive("times_capacity", times)?,
                cap,
            },
            (None, None) => match self.concurrency {
                Some(workers) => Shape::Concurrency(workers),
                None => {
                    return Err(format!(
                        "phase {name:?}: needs rate, times_capacity (open loop) or concurrency \
                         (closed loop)"
                    ));
                }
            },
        };
        Ok(Phase {
            name,
            shape,
            duration: self.duration,
        })
    }
}

/// A humantime duration such as `"50ms"` or `"1m30s"`; zero is refused.
fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    required_duration(deserializer).map(Some)
}

fn required_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    crate::cli::parse_duration(&text)
        .map_err(|err| serde::de::Error::custom(format!("invalid duration {text:?}: {err}")))
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Rate { rate, .. } => write!(f, "{rate} req/s"),
            Shape::TimesCapacity { times, .. } => write!(f, "{times}x capacity"),
            Shape::Concurrency(workers) => write!(f, "{workers} workers"),
            Shape::Ramp { from, to, .. } => {
                let level = |l: &Level| match l {
                    Level::Rate(rate) => format!("{rate} req/s"),
                    Level::TimesCapacity(times) => format!("{times}x capacity"),
                };
                write!(f, "ramp from {} to {}", level(from), level(to))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        description = "d"
        [server]
        backend_capacity = 8
        delay = "50ms"
        max_concurrency = 8
        [[variant]]
        limiter = "gate"
        [[variant]]
        name = "shed, 4 slots"
        limiter = "tower-shed"
        server = { max_concurrency = 4 }
        [load]
        timeout = "1s"
        [[load.phase]]
        times_capacity = 4.0
        duration = "2s"
        [[load.phase]]
        name = "closed"
        concurrency = 16
        duration = "500ms"
    "#;

    #[test]
    fn a_good_file_parses() {
        let scenario = Scenario::parse(GOOD).unwrap();
        assert_eq!(scenario.variants.len(), 2);
        assert_eq!(scenario.variants[0].name, "gate");
        assert_eq!(scenario.variants[0].server.max_concurrency, 8);
        assert_eq!(scenario.variants[1].name, "shed, 4 slots");
        assert_eq!(scenario.variants[1].server.limiter, Limiter::TowerShed);
        assert_eq!(scenario.variants[1].server.max_concurrency, 4);
        assert_eq!(scenario.variants[1].server.delay, Duration::from_millis(50));
        assert_eq!(scenario.variants[0].server.capacity(), 160.0);
        assert_eq!(scenario.load.path, "/slow");
        assert_eq!(scenario.load.timeout, Duration::from_secs(1));
        let phases = &scenario.load.phases;
        assert_eq!(phases[0].name, "phase 1");
        assert_eq!(phases[0].shape.rate(160.0), Some(640.0));
        assert_eq!(phases[1].shape, Shape::Concurrency(16));
        assert_eq!(phases[1].duration, Duration::from_millis(500));
    }

    #[test]
    fn ramps() {
        let ramp = GOOD.replace(
            "times_capacity = 4.0\n",
            "shape = \"ramp\"\nfrom = 0\nto_times_capacity = 4.0\n",
        );
        let scenario = Scenario::parse(&ramp).unwrap();
        let shape = scenario.load.phases[0].shape;
        assert_eq!(
            shape,
            Shape::Ramp {
                from: Level::Rate(0.0),
                to: Level::TimesCapacity(4.0),
                cap: OPEN_LOOP_CAP
            }
        );
        assert_eq!(shape.ramp(160.0), Some((0.0, 640.0)));
        assert_eq!(shape.rate(160.0), Some(320.0));
        assert_eq!(shape.to_string(), "ramp from 0 req/s to 4x capacity");

        refused(&ramp.replace("from = 0", ""), "needs from");
        refused(&ramp.replace("from = 0", "from = -1"), "from must be >= 0");
        refused(
            &ramp.replace("from = 0", "from = 0\nfrom_times_capacity = 1"),
            "not both",
        );
        refused(&ramp.replace("\"ramp\"", "\"sine\""), "shape \"sine\"");
        refused(
            &ramp.replace("shape = \"ramp\"\n", ""),
            "need shape = \"ramp\"",
        );
        refused(
            &ramp.replace("to_times_capacity = 4.0", "to = 0"),
            "from 0 to 0",
        );
        refused(
            &ramp.replace("from = 0", "from = 0\nrate = 5"),
            "not rate or times_capacity",
        );
    }

    #[test]
    fn queue_limit_algorithm_and_phases_per_variant() {
        let text = GOOD
            .replace(
                "max_concurrency = 8\n",
                "max_concurrency = 8\nlimit_algorithm = \"gradient2\"\n",
            )
            .replace(
                "server = { max_concurrency = 4 }",
                "server = { max_concurrency = 4, queue = \"codel\", limit_algorithm = \"vegas\" }\n\
                 phases = [\"closed\"]",
            );
        let scenario = Scenario::parse(&text).unwrap();
        let (all, one) = (&scenario.variants[0], &scenario.variants[1]);
        assert_eq!(all.server.adaptive.limit_algorithm, Algorithm::Gradient2);
        assert_eq!(all.server.adaptive.queue.as_str(), "fifo");
        assert_eq!(one.server.adaptive.limit_algorithm, Algorithm::Vegas);
        assert_eq!(one.server.adaptive.queue.as_str(), "codel");
        assert_eq!(one.server.config().adaptive, one.server.adaptive);
        let names = |v: &Variant| -> Vec<String> {
            v.phases_of(&scenario.load)
                .map(|p| p.name.clone())
                .collect()
        };
        assert_eq!(names(all), ["phase 1", "closed"]);
        assert_eq!(names(one), ["closed"]);

        refused(
            &text.replace("\"codel\"", "\"red\""),
            "server.queue \"red\"",
        );
        refused(
            &text.replace("\"vegas\"", "\"bbr\""),
            "limit_algorithm \"bbr\"",
        );
        refused(
            &text.replace("[\"closed\"]", "[\"open\"]"),
            "named \"open\"",
        );
        refused(&text.replace("[\"closed\"]", "[]"), "runs nothing");
    }

    #[track_caller]
    fn refused(text: &str, needle: &str) {
        let err = Scenario::parse(text).unwrap_err();
        assert!(err.contains(needle), "{needle:?} not in {err:?}");
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        refused(&GOOD.replace("delay =", "dealy ="), "dealy");
        refused(&GOOD.replace("description", "descr"), "descr");
        refused(&GOOD.replace("{ max_concurrency", "{ max_conc"), "max_conc");
        refused(&GOOD.replace("name = \"closed\"", "nom = 1"), "nom");
        refused(&GOOD.replace("timeout =", "time_out ="), "time_out");
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        refused(&GOOD.replace("\"gate\"", "\"gated\""), "\"gated\"");
        refused(&GOOD.replace("\"50ms\"", "\"50 parsecs\""), "50 parsecs");
        refused(&GOOD.replace("\"2s\"", "\"0s\""), "0s");
        refused(
            &GOOD.replace("= 4.0", "= -1.0"),
            "times_capacity must be > 0",
        );
        refused(&GOOD.replace("= 4.0", "= 4.0\nrate = 3.0"), "not both");
        refused(&GOOD.replace("concurrency = 16", ""), "needs rate");
        refused(
            &GOOD.replace("backend_capacity = 8", "backend_capacity = 0"),
            "backend_capacity",
        );
        refused(
            &GOOD.replace("[load]", "[load]\npath = \"slow\""),
            "load.path",
        );
        refused("[load]\nphase = []\n", "variant");
        refused("not toml", "");
    }

    #[test]
    fn the_shipped_scenarios_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut count = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Scenario::load(&path).unwrap();
                count += 1;
            }
        }
        assert!(count >= 3, "{count} scenarios");
    }
}
