//! `rtlock why NAME`: the dependency paths from requested packages to NAME.

use std::process::ExitCode;

use crate::cli::{GlobalArgs, WhyArgs};
use crate::lockfile::Lockfile;
use crate::why::explain;

pub fn run(args: &WhyArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let lock = Lockfile::read(&args.lock)?;
    let explanations = explain(&lock, &args.name);
    if explanations.is_empty() {
        anstream::eprintln!(
            "error: `{}` is not in {}: rtlock did not install it (the base image may provide it; \
             `rtlock inspect` lists what the base holds)",
            args.name,
            args.lock.display()
        );
        return Ok(ExitCode::from(super::EXIT_ERROR));
    }
    let mut out = String::new();
    for e in explanations {
        out.push_str(&format!("{} {} ({})\n", e.name, e.version, e.ecosystem));
        if e.requested {
            out.push_str("  requested in the manifest\n");
        }
        for path in &e.paths {
            out.push_str(&format!("  {}\n", path.join(" → ")));
        }
        if !e.requested && e.paths.is_empty() {
            out.push_str(
                "  no requested package leads to it (the lock's requires lists are incomplete)\n",
            );
        }
    }
    super::print(&out)?;
    Ok(ExitCode::SUCCESS)
}
