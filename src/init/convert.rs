//! A Dockerfile that extends a base, converted into a [`Draft`] of its manifest: `FROM`
//! (with `ARG` defaults), the packages its `RUN` lines install with apt-get, pip and R,
//! and its `ENV`, `LABEL`, `USER`, `WORKDIR`, `ENTRYPOINT` and `CMD` — the Cloudera
//! metadata among them moved to `[runtime]`. What has no place in a manifest is listed
//! with its line ([`Left`]), so the user knows what is still to do by hand.
//!
//! A Dockerfile written by `rtlock export dockerfile` converts back: its
//! `# rtlock-requested ECOSYSTEM: NAME` comments are the packages, its download-and-
//! install steps are known, and the labels `rtlock build` sets itself are dropped.

use std::collections::BTreeMap;
use std::path::Path;

use super::dockerfile::{self, Instruction};
use super::draft::Draft;
use super::shell::{self, SimpleCommand};
use crate::manifest::{ENV_PREFIX, FORBIDDEN_RUNTIME_KEYS, LABEL_PREFIX, RUNTIME_KEYS};

/// One instruction (or the part of a `RUN` line) that the manifest cannot say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    pub line: usize,
    /// The instruction or command, shortened.
    pub what: String,
    pub why: String,
}

/// What [`convert`] made of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    pub draft: Draft,
    pub left: Vec<Left>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConvertError {
    #[error("{file} has no FROM instruction: there is no base image to extend")]
    NoFrom { file: String },
    #[error(
        "{file}:{line}: the base image `{image}` depends on a build argument without a \
         default ({arg}); give the ARG a default, or run `rtlock init --base IMAGE`"
    )]
    UnresolvedBase {
        file: String,
        line: usize,
        image: String,
        arg: String,
    },
    #[error(
        "{file}:{line}: the last stage starts FROM `{stage}`, an earlier stage of this \
         Dockerfile, not an image: rtlock extends a base image (`rtlock init --base IMAGE`)"
    )]
    FromStage {
        file: String,
        line: usize,
        stage: String,
    },
}

/// Labels `rtlock build` sets on every image: not the user's to keep.
const BUILD_LABELS: [&str; 3] = [
    "org.opencontainers.image.created",
    "org.opencontainers.image.base.digest",
    "org.opencontainers.image.base.name",
];

/// `text` is the Dockerfile at `path` (named in messages; `-r FILE` is read next to it).
pub fn convert(text: &str, path: &Path) -> Result<Converted, ConvertError> {
    let file = path.display().to_string();
    let parsed = dockerfile::parse(text);
    let mut c = Converter {
        dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        draft: Draft::default(),
        left: Vec::new(),
        args: BTreeMap::new(),
        stages: Vec::new(),
        exported: false,
        runtime: BTreeMap::new(),
        recommends: Vec::new(),
        copied: Vec::new(),
    };
    // The marks of `export dockerfile`: the requested packages themselves.
    for (_, comment) in &parsed.comments {
        if let Some(rest) = comment.strip_prefix("rtlock-requested ")
            && let Some((ecosystem, name)) = rest.split_once(':')
        {
            c.exported = true;
            let name = name.trim().to_string();
            match ecosystem.trim() {
                "apt" => c.draft.apt.push(name),
                "pip" => c.draft.pip.push(name),
                "r" => c.draft.r.push(name),
                _ => {}
            }
        }
    }
    // Only the last stage is the image; earlier stages are build tools.
    let last_from = parsed
        .instructions
        .iter()
        .rposition(|i| i.keyword == "FROM")
        .ok_or(ConvertError::NoFrom { file: file.clone() })?;
    for (n, instruction) in parsed.instructions.iter().enumerate() {
        if n < last_from {
            c.before_last_stage(instruction);
        } else {
            c.instruction(instruction, &file)?;
        }
    }
    c.finish(&file);
    Ok(Converted {
        draft: c.draft,
        left: c.left,
    })
}

struct Converter {
    dir: std::path::PathBuf,
    draft: Draft,
    left: Vec<Left>,
    args: BTreeMap<String, String>,
    /// Names of earlier stages (`FROM … AS name`).
    stages: Vec<String>,
    /// Written by `export dockerfile` (it carries `# rtlock-requested` marks).
    exported: bool,
    runtime: BTreeMap<String, String>,
    /// Each `apt-get install`'s choice: with or without recommends.
    recommends: Vec<bool>,
    /// `(line, source, destination)` of each COPY/ADD, to see which fed a `pip -r`.
    copied: Vec<(usize, String, String)>,
}

impl Converter {
    fn leave(&mut self, line: usize, what: &str, why: &str) {
        let mut what = what.trim().to_string();
        if what.chars().count() > 72 {
            what = what.chars().take(69).collect::<String>() + "...";
        }
        self.left.push(Left {
            line,
            what,
            why: why.to_string(),
        });
    }

    /// Instructions of the stages before the last: ARGs still count (before the first
    /// FROM they are global); the rest builds something the image may COPY from.
    fn before_last_stage(&mut self, i: &Instruction) {
        match i.keyword.as_str() {
            "ARG" => self.arg(&i.args),
            "FROM" => {
                if let Some((_, name)) = split_as(&i.args) {
                    self.stages.push(name.to_ascii_lowercase());
                }
                self.leave(
                    i.line,
                    &format!("FROM {}", i.args),
                    "an earlier build stage: rtlock builds only the image itself",
                );
            }
            _ => {}
        }
    }

    fn arg(&mut self, args: &str) {
        for part in args.split_whitespace() {
            match part.split_once('=') {
                Some((name, value)) => {
                    let value = value.trim_matches('"').trim_matches('\'');
                    let value = dockerfile::substitute(value, &self.args);
                    self.args.insert(name.to_string(), value);
                }
                None => {
                    self.args.entry(part.to_string()).or_default();
                    if self.args[part].is_empty() {
                        self.args.remove(part);
                    }
                }
            }
        }
    }

    fn instruction(&mut self, i: &Instruction, file: &str) -> Result<(), ConvertError> {
        let args = dockerfile::substitute(&i.args, &self.args);
        match i.keyword.as_str() {
            "FROM" => self.from(i.line, &args, file)?,
            "ARG" => self.arg(&i.args),
            "RUN" if i.heredoc => self.leave(
                i.line,
                &format!("RUN {}", i.args),
                "a heredoc script, which init does not read",
            ),
            "RUN" => self.run(i.line, &args),
            "ENV" => {
                for (k, v) in pairs(&args, true) {
                    self.env(i.line, k, v);
                }
            }
            "LABEL" => {
                for (k, v) in pairs(&args, false) {
                    self.label(i.line, k, v);
                }
            }
            "USER" => self.draft.user = Some(args.trim().to_string()),
            "WORKDIR" => {
                let dir = args.trim();
                self.draft.workdir = Some(match &self.draft.workdir {
                    Some(base) if !dir.starts_with('/') => {
                        format!("{}/{dir}", base.trim_end_matches('/'))
                    }
                    _ => dir.to_string(),
                });
            }
            "ENTRYPOINT" => self.draft.entrypoint = Some(exec_form(&args)),
            "CMD" => self.draft.cmd = Some(exec_form(&args)),
            "COPY" | "ADD" => {
                let words: Vec<&str> = args
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                if let [sources @ .., dest] = words.as_slice() {
                    for s in sources {
                        self.copied.push((i.line, s.to_string(), dest.to_string()));
                    }
                }
                let why = if args.contains("--from=") {
                    "files from another build stage: a manifest names packages, not files"
                } else {
                    "files from the build context: a manifest names packages, not files"
                };
                self.leave(i.line, &format!("{} {}", i.keyword, i.args), why);
            }
            "MAINTAINER" => self.label(i.line, "maintainer".to_string(), args.trim().to_string()),
            other => self.leave(
                i.line,
                &format!("{other} {}", i.args),
                "no manifest key sets it",
            ),
        }
        Ok(())
    }

    fn from(&mut self, line: usize, args: &str, file: &str) -> Result<(), ConvertError> {
        let mut image = None;
        for word in args.split_whitespace() {
            if let Some(platform) = word.strip_prefix("--platform=") {
                self.draft.platform = Some(platform.to_string());
            } else if image.is_none() {
                image = Some(word.to_string());
            }
        }
        let image = image.unwrap_or_default();
        if let Some(at) = image.find('$') {
            let arg: String = image[at + 1..]
                .trim_start_matches('{')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            return Err(ConvertError::UnresolvedBase {
                file: file.to_string(),
                line,
                image,
                arg,
            });
        }
        if self.stages.contains(&image.to_ascii_lowercase()) {
            return Err(ConvertError::FromStage {
                file: file.to_string(),
                line,
                stage: image,
            });
        }
        self.draft.base = image;
        Ok(())
    }

    fn env(&mut self, line: usize, key: String, value: String) {
        if let Some(name) = key.strip_prefix(ENV_PREFIX) {
            let name = name.to_ascii_lowercase().replace('_', "-");
            self.runtime_key(line, &key, name, value);
        } else {
            set(&mut self.draft.env, key, value);
        }
    }

    fn label(&mut self, line: usize, key: String, value: String) {
        if let Some(name) = key.strip_prefix(LABEL_PREFIX) {
            self.runtime_key(line, &key, name.to_string(), value);
        } else if !BUILD_LABELS.contains(&key.as_str()) {
            set(&mut self.draft.labels, key, value);
        }
    }

    /// ENV and LABEL say each key twice; one value is kept (the later one).
    fn runtime_key(&mut self, line: usize, written: &str, key: String, value: String) {
        if FORBIDDEN_RUNTIME_KEYS.contains(&key.as_str()) {
            self.leave(
                line,
                &format!("{written}={value}"),
                "the base runtime sets it and Cloudera does not let a custom runtime change it",
            );
            return;
        }
        if !RUNTIME_KEYS.contains(&key.as_str()) {
            self.leave(
                line,
                &format!("{written}={value}"),
                "not a [runtime] key rtlock knows",
            );
            return;
        }
        self.runtime.insert(key, value);
    }

    fn run(&mut self, line: usize, script: &str) {
        // The download-and-install steps of `export dockerfile`: the packages are its
        // `# rtlock-requested` marks.
        if self.exported && script.contains("/tmp/rtlock-") {
            return;
        }
        let commands = match shell::commands(script) {
            Ok(commands) => commands,
            Err(e) => {
                self.leave(line, &format!("RUN {script}"), &e.to_string());
                return;
            }
        };
        let mut pipeline: Vec<String> = Vec::new();
        for command in &commands {
            let words: Vec<&str> = command.words.iter().map(|w| w.text.as_str()).collect();
            // `curl … | sh`: the whole pipeline is one thing left to do.
            if command.piped || !pipeline.is_empty() {
                pipeline.push(words.join(" "));
                if !command.piped {
                    let shown = pipeline.join(" | ");
                    pipeline.clear();
                    self.leave(
                        line,
                        &shown,
                        "a pipeline: what it installs is not known until it runs",
                    );
                }
                continue;
            }
            self.command(line, command);
        }
    }

    fn command(&mut self, line: usize, command: &SimpleCommand) {
        let words: Vec<&str> = command.words.iter().map(|w| w.text.as_str()).collect();
        let shown = words.join(" ");
        let Some(program) = words.first().map(|w| w.rsplit('/').next().unwrap_or(w)) else {
            return;
        };
        if !command.writes_to.is_empty() {
            self.leave(
                line,
                &format!("{shown} > {}", command.writes_to.join(" ")),
                "it writes a file: a manifest names packages, not files",
            );
            return;
        }
        match program {
            "apt-get" | "apt" => self.apt(line, &words[1..], &shown),
            "pip" | "pip3" => self.pip(line, &words[1..], command, &shown),
            p if is_pip_version(p) => self.pip(line, &words[1..], command, &shown),
            p if is_python(p)
                && words.get(1) == Some(&"-m")
                && words.get(2).is_some_and(|m| *m == "pip") =>
            {
                self.pip(line, &words[3..], command, &shown)
            }
            "Rscript" | "R" => self.r(line, &words[1..], &shown),
            "install2.r" => self.install2r(&words[1..]),
            "set" | "true" | ":" | "echo" | "export" => {}
            "rm" if words[1..]
                .iter()
                .filter(|w| !w.starts_with('-'))
                .all(|p| is_cache_path(p)) => {}
            _ => self.leave(
                line,
                &shown,
                "a command rtlock does not run: the lock installs packages only",
            ),
        }
    }

    fn apt(&mut self, line: usize, args: &[&str], shown: &str) {
        let mut rest = args.iter().copied();
        let mut action = None;
        let mut names = Vec::new();
        let mut recommends = true;
        let mut target_release = false;
        while let Some(word) = rest.next() {
            match word {
                "-o" | "-c" => {
                    rest.next();
                }
                "-t" | "--target-release" | "--default-release" => {
                    rest.next();
                    target_release = true;
                }
                "--no-install-recommends" => recommends = false,
                "--install-recommends" => recommends = true,
                w if w.starts_with('-') => {}
                w if action.is_none() => action = Some(w),
                w => names.push(w.to_string()),
            }
        }
        match action {
            Some("update" | "clean" | "autoclean" | "autoremove") => {}
            Some("remove" | "purge") => self.leave(
                line,
                shown,
                "removing packages of the base: rtlock adds to the base as its digest pins it",
            ),
            Some("install") => {
                if target_release {
                    self.leave(line, shown, "a target release (-t): name the version with pkg=VERSION instead");
                }
                for name in names {
                    if name.contains('/') || name.ends_with(".deb") {
                        self.leave(line, &name, "a local .deb or a release suffix: name the package as pkg or pkg=VERSION");
                    } else if !self.draft.apt.contains(&name) {
                        self.draft.apt.push(name);
                    }
                }
                self.recommends.push(recommends);
            }
            Some("upgrade" | "dist-upgrade" | "full-upgrade") => self.leave(
                line,
                shown,
                "upgrading every package of the base: rtlock keeps the base as its digest pins it; name the packages to upgrade in [apt] packages",
            ),
            _ => self.leave(line, shown, "an apt-get action other than install"),
        }
    }

    fn pip(&mut self, line: usize, args: &[&str], command: &SimpleCommand, shown: &str) {
        if args.first() != Some(&"install") {
            self.leave(line, shown, "a pip command other than install");
            return;
        }
        let mut rest = args[1..].iter().copied().enumerate();
        while let Some((n, word)) = rest.next() {
            let value_of =
                |rest: &mut dyn Iterator<Item = (usize, &str)>, word: &str| -> Option<String> {
                    match word.split_once('=') {
                        Some((_, v)) if word.starts_with("--") => Some(v.to_string()),
                        _ => rest.next().map(|(_, v)| v.to_string()),
                    }
                };
            let option = word.split('=').next().unwrap_or(word);
            match option {
                "-r" | "--requirement" => {
                    if let Some(file) = value_of(&mut rest, word) {
                        self.requirements(line, &file);
                    }
                }
                "-i" | "--index-url" => self.draft.index_url = value_of(&mut rest, word),
                "--extra-index-url" => {
                    if let Some(url) = value_of(&mut rest, word) {
                        self.draft.extra_index_urls.push(url);
                    }
                }
                "-c" | "--constraint" | "-e" | "--editable" | "-t" | "--target" | "--prefix"
                | "--root" => {
                    let value = value_of(&mut rest, word).unwrap_or_default();
                    self.leave(
                        line,
                        &format!("pip install {option} {value}"),
                        "init does not convert this pip option",
                    );
                }
                "--trusted-host" | "-f" | "--find-links" | "--progress-bar"
                | "--root-user-action" | "--cache-dir" | "--platform" | "--python-version" => {
                    value_of(&mut rest, word);
                }
                "--user" => self.leave(
                    line,
                    "pip install --user",
                    "a user site: rtlock installs into the interpreter's system site, which every user sees",
                ),
                o if o.starts_with('-') => {}
                _ => {
                    let expands = command.words.get(n + 2).is_some_and(|w| w.expands);
                    self.pip_requirement(line, word, expands);
                }
            }
        }
    }

    fn pip_requirement(&mut self, line: usize, spec: &str, expands: bool) {
        let name = spec
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
            .next()
            .unwrap_or("");
        if expands {
            self.leave(
                line,
                spec,
                "a shell variable or glob: its value is not known here",
            );
        } else if spec.starts_with('.')
            || spec.starts_with('/')
            || spec.contains("://") && !spec.contains(" @ ")
        {
            self.leave(
                line,
                spec,
                "a local path or a URL: [pip] packages names distributions from an index",
            );
        } else if matches!(name.to_ascii_lowercase().as_str(), "pip") {
            // Upgrading pip itself: rtlock installs wheels without the base's pip.
        } else if !self.draft.pip.iter().any(|p| p == spec) {
            self.draft.pip.push(spec.to_string());
        }
    }

    /// A requirements file named by `pip install -r`: next to the Dockerfile, or (when
    /// a COPY put it where the RUN reads it) the COPY's source.
    fn requirements(&mut self, line: usize, path: &str) {
        let mut candidates = vec![self.dir.join(path.trim_start_matches('/'))];
        let file_name = Path::new(path)
            .file_name()
            .map(|f| f.to_string_lossy().to_string());
        for (_, source, dest) in &self.copied {
            let lands = dest == path
                || (dest.ends_with('/')
                    && file_name.as_deref()
                        == Path::new(source).file_name().and_then(|f| f.to_str())
                    && path.starts_with(dest.as_str()));
            if lands {
                candidates.insert(0, self.dir.join(source));
            }
        }
        if let Some(name) = &file_name {
            candidates.push(self.dir.join(name));
        }
        let Some((found, text)) = candidates
            .iter()
            .find_map(|c| std::fs::read_to_string(c).ok().map(|t| (c.clone(), t)))
        else {
            self.leave(
                line,
                &format!("pip install -r {path}"),
                "the requirements file is not next to the Dockerfile",
            );
            return;
        };
        // The COPY that brought it in is covered now.
        let source = found
            .strip_prefix(&self.dir)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let covered: Vec<usize> = self
            .copied
            .iter()
            .filter(|(_, s, _)| s.trim_start_matches("./") == source)
            .map(|(l, _, _)| *l)
            .collect();
        self.left.retain(|l| {
            !(covered.contains(&l.line)
                && (l.what.starts_with("COPY") || l.what.starts_with("ADD")))
        });
        // A line ending in a backslash continues on the next (pip-compile's `\` + hashes).
        let mut logical: Vec<(usize, String)> = Vec::new();
        let mut pending: Option<(usize, String)> = None;
        for (n, raw) in text.lines().enumerate() {
            let (start, mut joined) = pending.take().unwrap_or((n, String::new()));
            joined.push_str(raw.trim());
            match joined.strip_suffix('\\') {
                Some(head) => pending = Some((start, format!("{} ", head.trim_end()))),
                None => logical.push((start, joined)),
            }
        }
        logical.extend(pending);
        for (n, raw) in &logical {
            let n = *n;
            let entry = raw.split(" #").next().unwrap_or("").trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let spec = entry
                .split(" --hash")
                .next()
                .unwrap_or(entry)
                .trim()
                .trim_end_matches('\\')
                .trim();
            let words: Vec<&str> = spec.split_whitespace().collect();
            match words.as_slice() {
                ["-i" | "--index-url", url] => self.draft.index_url = Some(url.to_string()),
                ["--extra-index-url", url] => self.draft.extra_index_urls.push(url.to_string()),
                ["-r" | "--requirement", other] => self.requirements(line, other),
                [option, ..] if option.starts_with('-') => self.leave(
                    line,
                    &format!("{}:{}: {spec}", found.display(), n + 1),
                    "init does not convert this requirements option",
                ),
                _ => self.pip_requirement(line, spec, false),
            }
        }
    }

    fn r(&mut self, line: usize, args: &[&str], shown: &str) {
        let mut rest = args.iter();
        let mut any = false;
        while let Some(word) = rest.next() {
            if *word == "-e"
                && let Some(expr) = rest.next()
            {
                any = true;
                self.r_expression(line, expr);
            }
        }
        if !any {
            self.leave(
                line,
                shown,
                "an R script init does not read (only `-e 'install.packages(…)'`)",
            );
        }
    }

    fn r_expression(&mut self, line: usize, expr: &str) {
        for call in r_calls(expr) {
            match call.name.as_str() {
                "install.packages" | "utils::install.packages" => {
                    for (name, value) in &call.args {
                        match name.as_deref() {
                            None | Some("pkgs") => {
                                for pkg in r_strings(value) {
                                    if !self.draft.r.contains(&pkg) {
                                        self.draft.r.push(pkg);
                                    }
                                }
                            }
                            Some("repos") => {
                                for repo in r_strings(value) {
                                    if !self.draft.r_repos.contains(&repo) {
                                        self.draft.r_repos.push(repo);
                                    }
                                }
                            }
                            Some("dependencies") if value.trim() == "TRUE" => {
                                self.draft.r_suggests = true
                            }
                            _ => {}
                        }
                    }
                }
                "options" | "library" | "require" | "q" | "quit" => {}
                other => self.leave(
                    line,
                    &format!("{other}(…)"),
                    "an R call other than install.packages",
                ),
            }
        }
    }

    /// littler's `install2.r [-r REPO] [-e] [-s] PKG…` (the rocker images' installer).
    fn install2r(&mut self, args: &[&str]) {
        let mut rest = args.iter();
        while let Some(word) = rest.next() {
            match *word {
                "-r" | "--repos" => {
                    if let Some(repo) = rest.next() {
                        self.draft.r_repos.push(repo.to_string());
                    }
                }
                "-l" | "--libloc" | "-n" | "--ncpus" | "-t" | "--type" => {
                    rest.next();
                }
                "-d" | "--deps" => {
                    if rest.next().is_some_and(|v| *v == "TRUE") {
                        self.draft.r_suggests = true;
                    }
                }
                w if w.starts_with('-') => {}
                w => self.draft.r.push(w.to_string()),
            }
        }
    }

    fn finish(&mut self, file: &str) {
        if !self.recommends.is_empty() && self.recommends.iter().all(|r| !r) {
            self.draft.install_recommends = Some(false);
        } else if self.recommends.iter().any(|r| !r) {
            self.draft.install_recommends = Some(false);
            self.draft.notes.apt.push(
                "some installs used --no-install-recommends and some did not: all go without recommends here"
                    .to_string(),
            );
        }
        let runtime = std::mem::take(&mut self.runtime);
        for key in RUNTIME_KEYS {
            match runtime.get(key) {
                Some(value) => self.draft.runtime.push((key.to_string(), value.clone())),
                None if !runtime.is_empty() && key == "edition" => {
                    self.draft.runtime_todo.push(key.to_string())
                }
                None => {}
            }
        }
        self.draft.origin = vec![
            format!("runtime.toml, converted from {file} by `rtlock init --from`."),
            "Next: `rtlock lock` pins the base by digest and every package by sha256;".to_string(),
            "then `rtlock build -o docker-daemon:NAME` (or oci:, docker://…) builds it."
                .to_string(),
        ];
    }
}

/// `FROM image AS name` → `(image, name)`.
fn split_as(args: &str) -> Option<(&str, &str)> {
    let words: Vec<&str> = args
        .split_whitespace()
        .filter(|w| !w.starts_with("--"))
        .collect();
    match words.as_slice() {
        [image, as_, name] if as_.eq_ignore_ascii_case("as") => Some((image, name)),
        _ => None,
    }
}

fn set(pairs: &mut Vec<(String, String)>, key: String, value: String) {
    match pairs.iter_mut().find(|(k, _)| *k == key) {
        Some(pair) => pair.1 = value,
        None => pairs.push((key, value)),
    }
}

/// The `KEY=value` pairs of ENV or LABEL (values unquoted), or the legacy `ENV KEY value`.
fn pairs(args: &str, legacy: bool) -> Vec<(String, String)> {
    let words = match shell::commands(args) {
        Ok(commands) => commands
            .into_iter()
            .flat_map(|c| {
                c.assignments
                    .into_iter()
                    .chain(c.words.into_iter().map(|w| w.text))
            })
            .collect::<Vec<_>>(),
        Err(_) => args.split_whitespace().map(str::to_string).collect(),
    };
    if legacy && words.first().is_some_and(|w| !w.contains('=')) {
        let mut parts = args.trim().splitn(2, char::is_whitespace);
        let key = parts.next().unwrap_or("").to_string();
        let value = parts.next().unwrap_or("").trim().to_string();
        return vec![(key, value)];
    }
    words
        .into_iter()
        .filter_map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// ENTRYPOINT or CMD: the exec form's JSON array, or the shell form as `sh -c`.
fn exec_form(args: &str) -> Vec<String> {
    let trimmed = args.trim();
    if trimmed.starts_with('[')
        && let Ok(list) = serde_json::from_str::<Vec<String>>(trimmed)
    {
        return list;
    }
    vec!["/bin/sh".to_string(), "-c".to_string(), trimmed.to_string()]
}

fn is_python(program: &str) -> bool {
    program == "python"
        || program
            .strip_prefix("python")
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

fn is_pip_version(program: &str) -> bool {
    program
        .strip_prefix("pip")
        .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// Paths whose removal only drops caches and package lists.
fn is_cache_path(path: &str) -> bool {
    [
        "/var/lib/apt/lists",
        "/var/cache/apt",
        "/var/cache/debconf",
        "/tmp/",
        "/var/tmp/",
        "/root/.cache",
        "~/.cache",
        "/var/log/",
    ]
    .iter()
    .any(|prefix| path.starts_with(prefix) || path == prefix.trim_end_matches('/'))
}

/// One top-level call of an R expression: its name and its arguments (name, text).
struct RCall {
    name: String,
    args: Vec<(Option<String>, String)>,
}

/// The top-level calls of `expr` (`f(…); g(…)`), strings and nesting respected.
fn r_calls(expr: &str) -> Vec<RCall> {
    let chars: Vec<char> = expr.chars().collect();
    let mut calls = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '.' | '_' | ':'))
        {
            i += 1;
        }
        let name: String = chars[start..i].iter().collect();
        if name.is_empty() || chars.get(i) != Some(&'(') {
            i = i.max(start + 1);
            continue;
        }
        let (inner, end) = balanced(&chars, i);
        calls.push(RCall {
            name,
            args: split_args(&inner),
        });
        i = end;
    }
    calls
}

/// The text inside the parentheses opening at `open`, and the index after the close.
fn balanced(chars: &[char], open: usize) -> (String, usize) {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    let mut i = open;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(_) if c == '\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return (chars[open + 1..i].iter().collect(), i + 1);
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    (
        chars[(open + 1).min(chars.len())..].iter().collect(),
        chars.len(),
    )
}

/// `a, b = c(…), d` → `[(None, "a"), (Some("b"), "c(…)"), (None, "d")]`.
fn split_args(inner: &str) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut quote: Option<char> = None;
    let mut current = String::new();
    let mut escaped = false;
    for c in inner.chars() {
        if let Some(q) = quote {
            current.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => {
                quote = Some(c);
                current.push(c);
            }
            '(' => {
                depth += 1;
                current.push(c);
            }
            ')' => {
                depth -= 1;
                current.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out.into_iter()
        .map(|arg| {
            let arg = arg.trim().to_string();
            match arg.split_once('=') {
                Some((name, value))
                    if !name.trim().is_empty()
                        && !name.contains(['"', '\'', '('])
                        && !value.starts_with('=') =>
                {
                    (Some(name.trim().to_string()), value.trim().to_string())
                }
                _ => (None, arg),
            }
        })
        .collect()
}

/// The string literals of `"a"` or `c("a", b = "c")`.
fn r_strings(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut current = String::new();
    for c in value.chars() {
        match quote {
            Some(q) if c == q => {
                out.push(std::mem::take(&mut current));
                quote = None;
            }
            Some(_) => current.push(c),
            None if c == '"' || c == '\'' => quote = Some(c),
            None => {}
        }
    }
    out
}
