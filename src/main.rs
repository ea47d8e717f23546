use std::process::ExitCode;

use clap::Parser;

use rtlock::cli::{Cli, ColorChoice};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_output(&cli.global);
    match rtlock::commands::run(cli) {
        Ok(code) => code,
        Err(error) if closed_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error);
            ExitCode::from(rtlock::commands::EXIT_ERROR)
        }
    }
}

/// Colours: `--color` wins; with `auto`, NO_COLOR and a non-terminal turn them off
/// (anstream checks both). Logging: `-v` info, `-vv` debug, `-q` errors only;
/// `RUST_LOG` overrides.
fn init_output(global: &rtlock::cli::GlobalArgs) {
    let choice = match global.color {
        ColorChoice::Always => anstream::ColorChoice::Always,
        ColorChoice::Never => anstream::ColorChoice::Never,
        ColorChoice::Auto => anstream::ColorChoice::Auto,
    };
    choice.write_global();
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("rtlock={level}")));
    let ansi = anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .without_time()
        .with_target(false)
        .init();
}

/// Whether the command failed only because the reader of standard output went away
/// (`rtlock … | head -1`). That ends the command quietly with exit code 0, as ripgrep
/// does: the reader chose to stop reading, and by the time the result is printed the
/// work (a lock, an image) is done and written. A panic or an error message there would
/// only be noise in the pipeline.
fn closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<rtlock::commands::StdoutError>()
            .is_some_and(|e| e.is_broken_pipe())
    })
}

/// `error: …` then each cause on its own line, the way cargo prints them; a cause the
/// message above already says is not said again.
fn report(error: &anyhow::Error) {
    let red = anstyle::Style::new()
        .bold()
        .fg_color(Some(anstyle::AnsiColor::Red.into()));
    let messages = rtlock::diagnostic::distinct_messages(error.as_ref());
    let (message, causes) = messages.split_first().expect("an error has a message");
    anstream::eprintln!("{red}error{red:#}: {message}");
    for cause in causes {
        anstream::eprintln!("\n{red}caused by{red:#}: {cause}");
    }
}
