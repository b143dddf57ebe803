//! Runs the simulator's CLI without the main binary: `cargo run -p sim --example sim -- --help`.

use clap::Parser;

#[derive(Parser)]
#[command(name = "sim")]
struct Cli {
    #[command(flatten)]
    args: sim::SimArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match sim::run(Cli::parse().args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
