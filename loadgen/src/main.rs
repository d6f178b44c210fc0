//! The `loadgen` binary: parses the command line into a [`Scenario`](shardmq_loadgen::Scenario), runs
//! it, prints the summary table and optionally writes the report as JSON.
//!
//! Exit codes: 0 done, 1 the scenario could not be carried out (connections
//! failed or dropped), 2 the run could not start.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use shardmq_loadgen::run;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let (scenario, json_path) = match cli.into_scenario() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("loadgen: {message}");
            return ExitCode::from(2);
        }
    };
    let report = match run(&scenario) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("loadgen: {error}");
            return ExitCode::from(2);
        }
    };
    print!("{}", report.table());
    if let Some(path) = json_path {
        let json = serde_json::to_string_pretty(&report).expect("a report serializes");
        if let Err(error) = std::fs::write(&path, json + "\n") {
            eprintln!("loadgen: cannot write {}: {error}", path.display());
            return ExitCode::from(2);
        }
    }
    if report.is_failure() {
        eprintln!(
            "loadgen: scenario not carried out: {} of {} connections up, {} setup failures, {} dropped mid-run",
            report.connections_established,
            report.connections_planned,
            report.errors.setup_failures(),
            report.errors.run_failures()
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
