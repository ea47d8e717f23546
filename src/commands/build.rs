//! `rtlock build`: the image of a lock, to every `-o` destination; `--check` builds it
//! twice with separate fresh layer caches and compares.
//!
//! Standard output carries the result only: the manifest digest as the last line, or
//! with `--format json` one JSON object. Everything else goes to standard error.

use std::process::ExitCode;

use crate::build::{self, BuildContext, BuildOptions};
use crate::cli::{BuildArgs, BuildFormat, GlobalArgs};
use crate::lockfile::Lockfile;
use crate::oci::layer::LayerCache;
use crate::oci::output::Destination;
use anyhow::Context as _;

pub fn run(args: &BuildArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let destinations = args
        .outputs
        .iter()
        .map(|d| d.parse::<Destination>())
        .collect::<Result<Vec<_>, _>>()?;
    // Refused before the build, which may take minutes: an archive that could not be
    // written, or would replace the lock it is built from.
    for destination in &destinations {
        if let Destination::OciArchive { path, .. } | Destination::DockerArchive { path, .. } =
            destination
        {
            super::refuse_overwriting(path, &args.lock, "lock")?;
        }
    }
    let lock = Lockfile::read(&args.lock)?;
    warn_if_stale(&lock, &args.lock);
    let options = BuildOptions {
        mirrors: mirrors(args)?,
        no_daemon: args.no_daemon,
        uncompressed: !destinations.is_empty()
            && destinations
                .iter()
                .all(|d| matches!(d, Destination::DockerDaemon(_))),
        engine_output: destinations
            .iter()
            .any(|d| matches!(d, Destination::DockerDaemon(_))),
    };
    if !options.mirrors.is_empty() {
        tracing::info!(
            "mirrors are only used for package files; this lock's base comes from its registry"
        );
    }
    let fetcher = super::context::fetcher(global)?;
    let fetcher = if args.verify {
        fetcher.verifying()
    } else {
        fetcher
    };
    let registry = super::context::registry(&fetcher)?;
    let runtime = super::context::runtime()?;
    let context = |layer_cache| BuildContext {
        fetcher: fetcher.clone(),
        registry: registry.clone(),
        layer_cache,
    };
    let say = |text: String| {
        if !global.quiet {
            anstream::eprintln!("{text}");
        }
    };

    // With --check, the outputs are written from the first build, whose layers live in
    // the scratch directory until the end of this function.
    let mut scratch = None;
    let (built, mut notes, ctx) = if args.check {
        let dir = build::scratch_dir().context("cannot create a scratch directory for --check")?;
        let first_ctx = context(LayerCache::new(dir.path().join("first")));
        let second_ctx = context(LayerCache::new(dir.path().join("second")));
        scratch = Some(dir);
        let (first, notes) =
            runtime.block_on(build::build_with_options(&lock, &first_ctx, &options))?;
        let second = runtime.block_on(build::build_with_options(&lock, &second_ctx, &options));
        let (second, second_notes) = match second {
            Ok(second) => second,
            Err(e) => {
                runtime.block_on(build::remove_leftovers(notes.leftovers));
                return Err(e.into());
            }
        };
        // Only the first build's image is written.
        runtime.block_on(build::remove_leftovers(second_notes.leftovers));
        if let Some(difference) = build::check::compare(&first, &second) {
            runtime.block_on(build::remove_leftovers(notes.leftovers));
            anstream::eprintln!(
                "error: {} is not reproducible: two builds gave {} and {}\n{difference}",
                args.lock.display(),
                first.image.manifest_digest,
                second.image.manifest_digest
            );
            return Ok(ExitCode::from(super::EXIT_ERROR));
        }
        say(format!(
            "reproducible: two independent builds gave {}",
            first.image.manifest_digest
        ));
        (first, notes, first_ctx)
    } else {
        let ctx = context(LayerCache::in_cache_dir(fetcher.cache()));
        let (built, notes) = runtime.block_on(build::build_with_options(&lock, &ctx, &options))?;
        (built, notes, ctx)
    };
    if !notes.apt_pending_configure.is_empty() {
        // A warning even with -q: the image holds packages dpkg still calls unpacked.
        anstream::eprintln!(
            "warning: maintainer scripts did not run for: {}\n\
             help: their packages are unpacked but not configured; run `dpkg --configure -a` \
             in the image, or build where a Docker Engine answers (without --no-daemon) to have rtlock run them",
            notes.apt_pending_configure.join(", ")
        );
    }

    let written = runtime.block_on(build::write_outputs(&built, &destinations, &ctx));
    runtime.block_on(build::remove_leftovers(std::mem::take(
        &mut notes.leftovers,
    )));
    written?;
    // Each destination with the digest its own tools show for it.
    let manifest = built.image.manifest_digest.to_string();
    let image_id = built.image.config_descriptor.digest.to_string();
    for destination in &destinations {
        match destination {
            Destination::DockerDaemon(_) => say(format!(
                "wrote {destination} (image ID {}, as `docker images` shows it)",
                short(&image_id)
            )),
            _ => say(format!(
                "wrote {destination} (manifest {})",
                short(&manifest)
            )),
        }
    }
    if options.uncompressed {
        say(
            "the digest below is the image ID (the config digest, the same for every \
             destination): a Docker Engine stores no manifest; with oci: or docker:// the \
             manifest digest is printed"
                .to_string(),
        );
    }
    if destinations.is_empty() && !args.check {
        say("no -o DEST given: the image was built and nothing was written".to_string());
    }
    let result = match args.format {
        BuildFormat::Text if options.uncompressed => image_id,
        BuildFormat::Text => manifest,
        BuildFormat::Json => serde_json::to_string(&build::summary::of(
            &built,
            &notes,
            lock.pip.len(),
            options.uncompressed,
        ))?,
    };
    super::print(&format!("{result}\n"))?;
    drop(scratch);
    Ok(ExitCode::SUCCESS)
}

/// The environment variable `--mirror` falls back on: space-separated URLs.
const MIRRORS_ENV: &str = "RTLOCK_MIRRORS";

/// `--mirror URL…`, else `RTLOCK_MIRRORS`; a value that is no URL is named with where
/// it came from.
fn mirrors(args: &BuildArgs) -> anyhow::Result<Vec<url::Url>> {
    let from_env;
    let (values, from): (Vec<&str>, &str) = if args.mirrors.is_empty() {
        from_env = super::context::env_value(MIRRORS_ENV)
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_default();
        (from_env.split_whitespace().collect(), MIRRORS_ENV)
    } else {
        (args.mirrors.iter().map(|m| m.trim()).collect(), "--mirror")
    };
    values
        .into_iter()
        .filter(|m| !m.is_empty())
        .map(|m| {
            url::Url::parse(m)
                .with_context(|| format!("{from}: `{m}` is not a URL (e.g. http://host/debian)"))
        })
        .collect()
}

/// The build is of the lock alone; a manifest next to it that changed since it was
/// locked is most likely a `rtlock lock` forgotten, so it is said (the build goes on:
/// the lock is what was reviewed).
fn warn_if_stale(lock: &Lockfile, lock_path: &std::path::Path) {
    let manifest = lock_path
        .parent()
        .unwrap_or(std::path::Path::new(""))
        .join("runtime.toml");
    let Ok(text) = std::fs::read_to_string(&manifest) else {
        return;
    };
    let Ok(parsed) = crate::manifest::Manifest::parse(&text, &manifest) else {
        return;
    };
    if parsed.normalized_hash() != lock.manifest {
        anstream::eprintln!(
            "warning: {} is out of date: {} changed since it was locked; this builds what \
             the lock pins\nhelp: run `rtlock lock` first to build what the manifest asks for",
            lock_path.display(),
            manifest.display()
        );
    }
}

/// `sha256:` and the first 12 hex digits, as `docker images` shortens an ID.
fn short(digest: &str) -> &str {
    &digest[..digest.len().min("sha256:".len() + 12)]
}
