//! `rtlock why NAME`: the dependency paths from requested packages to NAME; for a
//! package the lock does not hold, whether the base image provides it.

use std::process::ExitCode;

use crate::cli::{GlobalArgs, WhyArgs};
use crate::lockfile::Lockfile;
use crate::why::{BasePackages, Explanation, Provided, Query, explain, nearest, provided};

pub fn run(args: &WhyArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let lock = Lockfile::read(&args.lock)?;
    let query = Query::parse(&args.name);
    let explanations = explain(&lock, &query);
    if !explanations.is_empty() {
        super::print(&render(&explanations))?;
        return Ok(ExitCode::SUCCESS);
    }
    // Not locked: the base image's own databases say whether it is there at all.
    let base = base_packages(&lock, global);
    if let Ok(base) = &base {
        let found = provided(base, &query);
        if !found.is_empty() {
            super::print(&render_provided(&found, &lock))?;
            return Ok(ExitCode::SUCCESS);
        }
    }
    let shown = args.lock.display();
    let mut message = match &base {
        Ok(_) => format!(
            "error: `{}` is not in this runtime: neither {shown} nor the base image {} has it",
            args.name, lock.base.reference
        ),
        Err(e) => format!(
            "error: `{}` is not in {shown}, and the base image {} could not be read to say \
             whether it provides it: {}",
            args.name,
            lock.base.reference,
            crate::fetch::error_chain(e.as_ref())
        ),
    };
    if let Some(close) = nearest(&lock, base.as_ref().ok(), &query) {
        message.push_str(&format!("\nhelp: did you mean `{close}`?"));
    }
    anstream::eprintln!("{message}");
    Ok(ExitCode::from(super::EXIT_ERROR))
}

fn render(explanations: &[Explanation]) -> String {
    let mut out = String::new();
    for e in explanations {
        out.push_str(&format!("{} {} ({})\n", e.name, e.version, e.ecosystem));
        if e.requested {
            out.push_str("  requested in the manifest\n");
        }
        for path in &e.paths {
            out.push_str(&format!("  {}\n", path.join(" → ")));
        }
        if e.more > 0 {
            out.push_str(&format!(
                "  … and {} more {} of the same length\n",
                e.more,
                if e.more == 1 { "path" } else { "paths" }
            ));
        }
        if !e.requested && e.paths.is_empty() {
            out.push_str(
                "  no requested package leads to it (the lock's requires lists are incomplete)\n",
            );
        }
    }
    out
}

fn render_provided(found: &[Provided], lock: &Lockfile) -> String {
    let mut out = String::new();
    for p in found {
        out.push_str(&format!(
            "provided by the base image: {} {} ({})\n",
            p.name, p.version, p.ecosystem
        ));
    }
    // The reference as the lock pins it: with its digest, when it has none itself.
    let base = &lock.base;
    let digest = base.digest.to_string();
    let pinned = if base.reference.contains(&digest) {
        base.reference.clone()
    } else {
        format!("{}@{digest}", base.reference)
    };
    out.push_str(&format!("  in {pinned}; the lock adds nothing for it\n"));
    out
}

/// What the lock's base holds: from the base facts this machine keeps, else read from
/// its layers through its registry (a pull; `--offline` reads only the cache).
fn base_packages(lock: &Lockfile, global: &GlobalArgs) -> anyhow::Result<BasePackages> {
    let fetcher = super::context::fetcher(global)?;
    let registry = super::context::registry(&fetcher)?;
    super::context::runtime()?.block_on(super::base_packages::read(
        &lock.base,
        &registry,
        fetcher.cache().root(),
    ))
}
