//! `floodgate-load`: see the library documentation, or run `floodgate-load --help`.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use floodgate_load::Opts;

fn main() -> ExitCode {
    match floodgate_load::run(Opts::parse()) {
        Ok(exit) => exit.into(),
        Err(err) => {
            eprintln!("floodgate-load: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
