//! The `honeyimage` binary: parses flags into validated settings, calls the
//! library, renders progress and results. Exit codes: 0 success (and, for
//! `verify`, no evidence of training), 1 `verify` found the suspect trained
//! on the protected data, 2 any error (one line on stderr).
mod commands;
mod commitment_args;
mod data_args;
mod key_args;
mod progress;
mod query_args;
mod settings;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use settings::{defaults_help, ExitStatus};

/// Prove that a model was trained on your image dataset (HoneyImage, arXiv 2508.00892).
#[derive(Parser)]
#[command(name = "honeyimage", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print less (no progress bars).
    #[arg(long, short, global = true)]
    quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Show a dataset's size, shape, classes and per-class counts.
    Inspect(commands::inspect::Args),
    /// Train a model on a dataset and save it as a folder.
    Train(commands::train::Args),
    /// Measure a saved model's accuracy on a dataset.
    EvalModel(commands::eval_model::Args),
    /// Make HoneyImages, write the protected release and the secret key.
    Protect(commands::protect::Args),
    /// Decide, with a p-value, whether a suspect model trained on the release (exit 1 if so).
    Verify(commands::verify::Args),
    /// Find a key's HoneyImages in a found dataset (no model needed): is it derived from a release, and whose? (exit 1 if so)
    Trace(commands::trace::Args),
    /// Calibrate the paper's tau from clean reference models.
    Calibrate(commands::calibrate::Args),
    /// Check a key, or encrypt/decrypt it with a passphrase.
    Key(commands::key::Args),
    /// Serve a model over the HTTP JSON protocol.
    Serve(commands::serve::Args),
    /// Load-test a prediction endpoint from a second process (throughput, latency, correctness).
    BenchServe(commands::bench_serve::Args),
    /// Run the paper's evaluation protocol with baselines and write an HTML report.
    Eval(commands::eval::Args),
}

fn main() -> ExitCode {
    // `--help` shows the library's defaults, the one place they are written.
    let command = Cli::command().mut_subcommand("protect", |c| {
        c.after_help(defaults_help::<honeyimage::config::ProtectConfig>("Defaults (flags and --config override them):"))
    });
    let cli = match command.try_get_matches().and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(c) => c,
        // --help and --version print and exit 0; usage errors keep the
        // one-line contract: the first line of clap's message, exit 2.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // The message runs up to the usage; "required arguments"
            // names them on the lines after its first.
            let text = e.to_string();
            let lines: Vec<&str> = text.lines().map(str::trim).take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information")).filter(|l| !l.is_empty()).collect();
            eprintln!("{}", if lines.is_empty() { "error: invalid arguments".to_string() } else { lines.join(" ") });
            return ExitStatus::Error.into();
        }
    };
    // ureq's debug log writes every request's headers, and masks only the
    // ones it knows to be secret (Authorization, Cookie): an API-key header
    // would show. Its records stop at warnings, whatever HONEYIMAGE_LOG says.
    let filter = tracing_subscriber::EnvFilter::from_env("HONEYIMAGE_LOG").add_directive("ureq=warn".parse().expect("a valid directive"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    // Training frees and re-allocates its activations every step; keep
    // that memory for reuse rather than faulting it in again (allocator.rs).
    let tuning = honeyimage::allocator::tune();
    tracing::debug!(?tuning, "malloc thresholds");
    let ui = progress::Ui::new(cli.quiet);
    let result = match cli.command {
        Command::Inspect(a) => commands::inspect::run(a, &ui),
        Command::Train(a) => commands::train::run(a, &ui),
        Command::EvalModel(a) => commands::eval_model::run(a, &ui),
        Command::Protect(a) => commands::protect::run(a, &ui),
        Command::Verify(a) => commands::verify::run(a, &ui),
        Command::Trace(a) => commands::trace::run(a, &ui),
        Command::Calibrate(a) => commands::calibrate::run(a, &ui),
        Command::Serve(a) => commands::serve::run(a, &ui),
        Command::Eval(a) => commands::eval::run(a, &ui),
        Command::Key(a) => commands::key::run(a, &ui),
        Command::BenchServe(a) => commands::bench_serve::run(a, &ui),
    };
    match result {
        Ok(status) => status.into(),
        Err(e) => {
            // The chain, skipping causes their parent message already quotes.
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(": ");
                    msg.push_str(&c);
                }
            }
            eprintln!("error: {}", msg.replace('\n', " "));
            ExitStatus::Error.into()
        }
    }
}
