//! Prints the replay report of a case file: `cargo run -p mom-oee --example replay -- <case.json>`.

use mom_oee::case::{replay, Case};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: replay <case.json>");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("cannot read {path}: {err}");
            return ExitCode::from(2);
        }
    };
    match Case::from_json(&text) {
        Ok(case) => match serde_json::to_string_pretty(&replay(&case)) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("cannot serialise the report: {err}");
                ExitCode::FAILURE
            }
        },
        Err(err) => {
            eprintln!("{path}: {err}");
            ExitCode::from(2)
        }
    }
}
