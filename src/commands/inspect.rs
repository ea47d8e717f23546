//! `rtlock inspect IMAGE`: what a (base) image holds.
//!
//! The image is opened from any source of SPEC.md, its layers are read in one streaming
//! pass (see [`crate::image::rootfs`]) and [`crate::inspect`] reads and renders the facts
//! (the JSON document is described in [`crate::inspect::report`]).

use std::process::ExitCode;

use anyhow::Context as _;

use super::context;
use crate::cli::{GlobalArgs, InspectArgs, TextOrJson};
use crate::image::{ImageSource, OpenOptions};
use crate::inspect::inventory;
use crate::inspect::report::{self, Report};
use crate::progress::Progress;

pub fn run(args: &InspectArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let source: ImageSource = args.image.parse()?;
    let report = inspect(&source, global)?;
    let out = match args.format {
        TextOrJson::Json => {
            let mut json = serde_json::to_string_pretty(&report)?;
            json.push('\n');
            json
        }
        TextOrJson::Text => report::text(&report),
    };
    super::print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Opens `source` and reads its inventory.
pub fn inspect(source: &ImageSource, global: &GlobalArgs) -> anyhow::Result<Report> {
    let registry = match source {
        ImageSource::Registry { .. } => Some(context::registry(&context::fetcher(global)?)?),
        _ => None,
    };
    let options = OpenOptions {
        registry,
        ..OpenOptions::default()
    };
    let runtime = context::runtime()?;
    let image = runtime
        .block_on(crate::image::open(source, &options))
        .with_context(|| format!("cannot open {source}"))?;
    let progress = Progress::for_stderr(global.quiet);
    let (_, inventory) =
        inventory::of_image(&image, &progress).with_context(|| format!("cannot read {source}"))?;
    Ok(Report {
        image: report::facts(source, &image),
        inventory,
    })
}
