//! The command line: clap definitions only. What each command does lives in `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "Reproducible container runtimes: lock apt, pip and R packages against \
the base image they extend, and build images whose digest is the same on every machine.";

const LONG_ABOUT: &str = "\
Reproducible container runtimes.

rtlock resolves a small manifest (runtime.toml) against the base image it extends into a \
lockfile (runtime.lock) that pins the base digest, exact apt versions, pip wheels and R \
packages by sha256. From that lock alone, `rtlock build` makes an image whose digest is \
identical on every machine and every run.";

const AFTER_HELP: &str = "\
Typical workflow:
  rtlock lock                      # runtime.toml -> runtime.lock
  rtlock build -o oci:out:latest   # runtime.lock -> image; prints the digest
  rtlock diff HEAD:runtime.lock runtime.lock --format markdown
  rtlock audit registry.example.com/ml/team-runtime:1 -l runtime.lock

Exit codes: 0 success, 1 error / out-of-date lock / not reproducible, 2 usage, 3 audit drift.";

#[derive(Debug, Parser)]
#[command(
    name = "rtlock",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Where downloads and indexes are cached, by sha256 [env: RTLOCK_CACHE_DIR] [default: $XDG_CACHE_HOME/rtlock]
    // The environment variables are read in `commands::context`, not by clap, so that an
    // empty one counts as unset and a bad one is an error naming it.
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Use only what is already in the cache; fail clearly when something is missing [env: RTLOCK_OFFLINE=1|true|yes]
    #[arg(long, global = true)]
    pub offline: bool,

    /// Say more (repeat for debug output)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Say only what is asked for, and errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// When to use colours (NO_COLOR is honoured by `auto`)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(InitArgs),
    Lock(LockArgs),
    Build(BuildArgs),
    Diff(DiffArgs),
    Why(WhyArgs),
    Audit(AuditArgs),
    Inspect(InspectArgs),
    Fetch(FetchArgs),
    Export(ExportArgs),
}

/// Write a commented runtime.toml to start from: for a base image, or from a Dockerfile
#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  rtlock init --base registry.example.com/ml/python:3.11   # empty sections, the base's facts
  rtlock init --from Dockerfile                # FROM, apt-get/pip/R installs, ENV, LABEL, USER…
  rtlock init --from Dockerfile --force        # replace an existing runtime.toml

--from converts what a manifest can say and lists, with line numbers, what it cannot \
(a COPY, a `curl | sh`): do those by hand, or keep them in a Dockerfile FROM the image \
rtlock builds. A Dockerfile written by `rtlock export dockerfile` converts back.")]
pub struct InitArgs {
    /// The base image to extend (a registry reference); its inventory fills the comments
    #[arg(
        long,
        value_name = "IMAGE",
        conflicts_with = "from",
        required_unless_present = "from"
    )]
    pub base: Option<String>,
    /// The Dockerfile to convert
    #[arg(long, value_name = "PATH")]
    pub from: Option<PathBuf>,
    /// The platform of the base to read (with --base)
    #[arg(long, default_value = "linux/amd64", value_name = "OS/ARCH")]
    pub platform: String,
    /// Where to write the manifest
    #[arg(short, long, default_value = "runtime.toml", value_name = "PATH")]
    pub output: PathBuf,
    /// Replace the file if it exists
    #[arg(long)]
    pub force: bool,
}

/// Resolve runtime.toml against its base image and write runtime.lock
#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  rtlock lock                          # read runtime.toml, write runtime.lock
  rtlock lock -m team/runtime.toml -o team/runtime.lock
  rtlock lock --check                  # in CI: fail when the lock is missing or stale
  rtlock lock --update pandas numpy    # re-resolve only these, keep every other pin

The lock pins the base image digest, every apt, pip and R package by sha256, and the \
image config. It is written atomically: an interrupted lock never leaves a broken file.
`--check` writes nothing and exits 1 when runtime.lock does not match runtime.toml.")]
pub struct LockArgs {
    /// The manifest to read
    #[arg(short, long, default_value = "runtime.toml", value_name = "PATH")]
    pub manifest: PathBuf,

    /// Where to write the lock [default: runtime.lock next to the manifest]
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Exit 1 (and say why) when the lock is missing or out of date; write nothing
    #[arg(long, conflicts_with = "update")]
    pub check: bool,

    /// Re-resolve only the named packages; keep every other pin
    #[arg(long, num_args = 1.., value_name = "NAME")]
    pub update: Vec<String>,
}

/// Build the image from runtime.lock alone
#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  rtlock build -o oci:out/runtime:latest
  rtlock build -o docker://registry.example.com/ml/team-runtime:1 -o docker-daemon:team-runtime:1
  rtlock build --check                 # build twice from scratch and compare digests

Destinations use skopeo's transport names: oci:PATH[:TAG], oci-archive:PATH[:TAG],
docker-archive:PATH[:REF], docker://REF, docker-daemon:REF. PATH ends at the first `:`.
A REF without a transport means docker://REF only when its first component is its
registry host (registry.example.com/…, host:5000/…, localhost/…): nothing defaults to a
public registry, and a mistyped transport is an error.
The image manifest digest is printed as the last line of standard output.")]
pub struct BuildArgs {
    /// The lock to build from
    #[arg(short, long, default_value = "runtime.lock", value_name = "PATH")]
    pub lock: PathBuf,

    /// Where to put the image (repeatable)
    #[arg(short, long = "output", value_name = "DEST")]
    pub outputs: Vec<String>,

    /// Build twice with no shared layer cache; exit 1 naming the first difference
    #[arg(long)]
    pub check: bool,

    /// Other apt mirrors, Python indexes or CRAN-like repos to try when a URL fails [env: RTLOCK_MIRRORS, space-separated]
    #[arg(long = "mirror", value_name = "URL")]
    pub mirrors: Vec<String>,

    /// Do not use a Docker Engine: maintainer scripts are not run (they are listed)
    #[arg(long)]
    pub no_daemon: bool,

    /// Hash every cached blob before using it, even those whose stamp says they are
    /// unchanged since they were verified
    #[arg(long)]
    pub verify: bool,

    /// Output format of the result
    #[arg(long, value_enum, default_value_t = BuildFormat::Text)]
    pub format: BuildFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BuildFormat {
    Text,
    Json,
}

/// Show what changed between two locks
#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  rtlock diff old.lock runtime.lock
  rtlock diff main:runtime.lock runtime.lock --format markdown   # for a pull request
  rtlock diff HEAD~1:runtime.lock HEAD:runtime.lock --format json

OLD and NEW are paths, or REV:PATH to read a file from git.

Per ecosystem: added, removed, upgraded and downgraded packages (in apt's, PEP 440's or
R's own version order), artifacts replaced or moved under the same version, the download
size before and after, and for each added package that the manifest does not name, the
requested packages that pulled it in (`rtlock why NAME` shows the whole path).

When the base image changed, the diff also says what changed inside it (dpkg packages,
Python distributions, R packages), read from both images' own databases: from the cache
when this machine locked them, else pulled (their layers are read, never unpacked).
`--no-base-contents` skips that. The exit code is 0 whether or not anything changed.")]
pub struct DiffArgs {
    /// The old lock (PATH or REV:PATH)
    pub old: String,
    /// The new lock (PATH or REV:PATH)
    pub new: String,
    /// Output format: `markdown` is ready to paste as a pull-request comment
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Do not read the base images to compare what is inside them
    #[arg(long)]
    pub no_base_contents: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Markdown,
    Json,
}

/// Explain why a package is in the runtime
#[derive(Debug, Args)]
#[command(after_long_help = "\
Every shortest path from a package the manifest requests to NAME, across ecosystems (an
apt library an R or pip package links against counts as its dependency). A package the
lock does not hold is looked up in the base image (its dpkg database, Python
distributions and R library, from the cache when this machine locked it, else read from
the registry); a name in neither gets the nearest name there is.

Examples:
  rtlock why libgvc6                   # the paths from requested packages to libgvc6
  rtlock why libgdal32                 # sf (r) → libgdal32: an R package needs it
  rtlock why apt:bash                  # provided by the base image: bash 5.2.15-2+b7
  rtlock why numpy -l team/runtime.lock")]
pub struct WhyArgs {
    /// The package to explain: NAME, or apt:NAME, pip:NAME, r:NAME for one ecosystem
    pub name: String,
    /// The lock to read
    #[arg(short, long, default_value = "runtime.lock", value_name = "PATH")]
    pub lock: PathBuf,
}

/// Compare what an image really contains with the lock
#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  rtlock audit registry.example.com/ml/team-runtime:1 -l runtime.lock
  rtlock audit container:3f2a9c --format json
  rtlock audit oci:out/runtime:latest --format cyclonedx > sbom.json

Exit code 3 means drift: packages missing, changed, extra, or files modified.")]
pub struct AuditArgs {
    /// The image or container (oci:, oci-archive:, docker-archive:, docker://, docker-daemon:, container:)
    pub image: String,
    /// The lock to compare with
    #[arg(short, long, default_value = "runtime.lock", value_name = "PATH")]
    pub lock: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
    pub format: AuditFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Text,
    Json,
    Spdx,
    Cyclonedx,
}

/// Show what a (base) image holds
#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  rtlock inspect registry.example.com/ml/runtime-python3.11:2024.02.1
  rtlock inspect oci:out/runtime:latest --format json

Reports the OS, architecture, glibc, apt sources and keyrings, dpkg packages, Python \
interpreters with their site-packages, pip configuration and distributions, and R with \
its library and repos.")]
pub struct InspectArgs {
    /// The image (oci:, oci-archive:, docker-archive:, docker://, docker-daemon:, or a reference that starts with its registry host)
    pub image: String,
    /// Output format
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

/// Download and verify every artifact of a lock
#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  rtlock fetch                         # fill the cache, then `rtlock --offline build` works
  rtlock fetch --into mirror/          # a directory usable as a mirror for air-gapped builds

Every file is checked against the sha256 and size in the lock before it is kept.")]
pub struct FetchArgs {
    /// The lock whose artifacts to fetch
    #[arg(short, long, default_value = "runtime.lock", value_name = "PATH")]
    pub lock: PathBuf,
    /// Also copy the artifacts into DIR, laid out as a mirror
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
}

/// Export the lock in another tool's format
#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  rtlock export requirements > requirements.txt   # pip, with --hash for every file
  rtlock export requirements -o requirements.txt  # the same, written atomically
  rtlock export pylock -o pylock.toml             # PEP 751
  rtlock export renv > renv.lock
  rtlock export dockerfile > Dockerfile           # an equivalent, pinned Dockerfile
  rtlock export spdx -o sbom.spdx.json            # SBOM of what the lock promises
  rtlock export cyclonedx -o sbom.cdx.json        # (audit IMAGE --format … for an image)

With -o the file is replaced atomically (a full disk leaves the old file, never half of \
the new one), and only when it is a regular file or does not exist.")]
pub struct ExportArgs {
    /// What to write
    #[arg(value_enum)]
    pub format: ExportFormat,
    /// The lock to read
    #[arg(short, long, default_value = "runtime.lock", value_name = "PATH")]
    pub lock: PathBuf,
    /// Write to PATH instead of standard output
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// pip's requirements format, every file with --hash
    Requirements,
    /// PEP 751 pylock.toml
    Pylock,
    /// renv.lock of the R packages (reads the base's R version)
    Renv,
    /// A Dockerfile that `docker build` turns into an equivalent image: FROM the base by
    /// digest, every file by URL and sha256 (reads the base's user)
    Dockerfile,
    /// SPDX 2.3 JSON: an SBOM of what the lock promises
    Spdx,
    /// CycloneDX 1.5 JSON: an SBOM of what the lock promises
    Cyclonedx,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
