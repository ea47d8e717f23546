//! `rtlock init`: writes a commented `runtime.toml` ([`crate::init`]) — for a base image
//! (its inventory read through its registry) or converted from a Dockerfile (what it
//! cannot express listed on standard error, with line numbers). The text is checked
//! with rtlock's own manifest parser before it is written, atomically, and never over
//! an existing file without `--force`.

use std::process::ExitCode;

use anyhow::Context as _;

use super::context;
use crate::cli::{GlobalArgs, InitArgs};
use crate::image::{ImageSource, OpenOptions};
use crate::init::{self, Draft};
use crate::inspect::inventory;
use crate::progress::Progress;

pub fn run(args: &InitArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    if args.output.exists() && !args.force {
        anstream::eprintln!(
            "error: {} exists already; init does not replace it\n\
             help: edit it, write elsewhere with `-o PATH`, or replace it with `--force`",
            args.output.display()
        );
        return Ok(ExitCode::from(super::EXIT_ERROR));
    }
    let (draft, left) = match (&args.base, &args.from) {
        (_, Some(dockerfile)) => {
            let text = std::fs::read_to_string(dockerfile)
                .with_context(|| format!("cannot read {}", dockerfile.display()))?;
            match init::convert(&text, dockerfile) {
                Ok(converted) => (converted.draft, converted.left),
                Err(e) => {
                    anstream::eprintln!("error: {e}");
                    return Ok(ExitCode::from(super::EXIT_ERROR));
                }
            }
        }
        (Some(base), None) => (from_base(base, &args.platform, global)?, Vec::new()),
        (None, None) => anyhow::bail!("give --base IMAGE or --from Dockerfile"),
    };
    let text = draft.render();
    // What init writes, lock must read: a draft that does not parse is init's bug.
    crate::manifest::Manifest::parse(&text, &args.output).map_err(|e| {
        anyhow::anyhow!(
            "the manifest init drafted does not parse, which is a bug in rtlock; please \
             report it with the input\n{e}"
        )
    })?;
    crate::atomic_file::write(&args.output, text.as_bytes())
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    if !global.quiet {
        summary(&draft, &left, args);
    }
    Ok(ExitCode::SUCCESS)
}

/// What was written, and what is left to do by hand, on standard error.
fn summary(draft: &Draft, left: &[init::Left], args: &InitArgs) {
    let from = match &args.from {
        Some(path) => format!(" from {}", path.display()),
        None => String::new(),
    };
    anstream::eprintln!(
        "wrote {}{from}: base {}, {} apt, {} pip, {} R packages",
        args.output.display(),
        draft.base,
        draft.apt.len(),
        draft.pip.len(),
        draft.r.len()
    );
    if !left.is_empty() {
        let file = args
            .from
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        anstream::eprintln!(
            "warning: {} instruction(s) of {file} have no place in a manifest; do them by hand, \
             or in a Dockerfile FROM the image rtlock builds:",
            left.len()
        );
        for l in left {
            anstream::eprintln!("  {file}:{}: {}\n      {}", l.line, l.what, l.why);
        }
    }
    anstream::eprintln!("next: rtlock lock");
}

/// The draft for `base`: its inventory and labels, read through its registry.
fn from_base(base: &str, platform: &str, global: &GlobalArgs) -> anyhow::Result<Draft> {
    let source: ImageSource = base.parse()?;
    let ImageSource::Registry { reference } = &source else {
        anyhow::bail!(
            "`{base}` is not a registry reference: a manifest's base is pulled from a \
             registry (`host/name:tag`, `docker://host/name:tag`)\n\
             help: push the image to a registry first, e.g. `skopeo copy {base} docker://HOST/NAME:TAG`"
        );
    };
    let platform: crate::oci::types::Platform = platform
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--platform: {e}"))?;
    let options = OpenOptions {
        registry: Some(context::registry(&context::fetcher(global)?)?),
        platform: platform.clone(),
    };
    let image = context::runtime()?
        .block_on(crate::image::open(&source, &options))
        .with_context(|| format!("cannot read the base image {reference}"))?;
    let progress = Progress::for_stderr(global.quiet);
    let (_, inventory) = inventory::of_image(&image, &progress)
        .with_context(|| format!("cannot read the base image {reference}"))?;
    let labels = image
        .config
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default();
    Ok(init::from_base::draft(
        reference,
        &platform.to_string(),
        &inventory,
        &labels,
    ))
}
