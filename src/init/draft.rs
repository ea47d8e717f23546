//! A manifest as `init` drafts it, and its text: a commented `runtime.toml` that a
//! person reads and finishes, and that rtlock's own manifest parser accepts (checked
//! before it is written).

use std::fmt::Write as _;

use crate::lockfile::{toml_key as key, toml_string as string};

/// What `init` knows of the runtime to be; each field renders as its manifest key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    /// The comment at the top: where the draft came from.
    pub origin: Vec<String>,
    pub base: String,
    pub platform: Option<String>,
    /// A comment per section, said above it (what the base already holds).
    pub notes: Notes,
    pub apt: Vec<String>,
    /// `Some(false)` when the Dockerfile installed with `--no-install-recommends`.
    pub install_recommends: Option<bool>,
    pub pip: Vec<String>,
    pub index_url: Option<String>,
    pub extra_index_urls: Vec<String>,
    pub r: Vec<String>,
    pub r_repos: Vec<String>,
    pub r_suggests: bool,
    pub env: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// `[runtime]` keys with their values, in the manifest's order; the integer one
    /// (`maintenance-version`) written bare.
    pub runtime: Vec<(String, String)>,
    /// `[runtime]` keys left for the user, written commented out.
    pub runtime_todo: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notes {
    pub base: Vec<String>,
    pub apt: Vec<String>,
    pub pip: Vec<String>,
    pub r: Vec<String>,
    pub runtime: Vec<String>,
}

impl Draft {
    /// The `runtime.toml` text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.origin {
            comment(&mut out, line);
        }
        out.push_str("\n[base]\n");
        for line in &self.notes.base {
            comment(&mut out, line);
        }
        let _ = writeln!(out, "image = {}", string(&self.base));
        match &self.platform {
            Some(p) => {
                let _ = writeln!(out, "platform = {}", string(p));
            }
            None => {
                out.push_str("# platform = \"linux/amd64\"        # the default; or linux/arm64\n")
            }
        }

        out.push_str("\n[apt]\n");
        for line in &self.notes.apt {
            comment(&mut out, line);
        }
        let _ = writeln!(out, "packages = {}", array(&self.apt));
        match self.install_recommends {
            Some(value) => {
                let _ = writeln!(out, "install-recommends = {value}");
            }
            None => out.push_str("# install-recommends = true       # as apt-get\n"),
        }

        out.push_str("\n[pip]\n");
        for line in &self.notes.pip {
            comment(&mut out, line);
        }
        let _ = writeln!(out, "packages = {}", array(&self.pip));
        match &self.index_url {
            Some(url) => {
                let _ = writeln!(out, "index-url = {}", string(url));
            }
            None => out.push_str(
                "# index-url = \"…\"                # default: PIP_INDEX_URL, else the base's pip.conf\n",
            ),
        }
        if !self.extra_index_urls.is_empty() {
            let _ = writeln!(out, "extra-index-urls = {}", array(&self.extra_index_urls));
        }

        out.push_str("\n[r]\n");
        for line in &self.notes.r {
            comment(&mut out, line);
        }
        let _ = writeln!(out, "packages = {}", array(&self.r));
        if self.r_repos.is_empty() {
            out.push_str("# repos = [\"…\"]                  # default: the repos option of the base's Rprofile.site\n");
        } else {
            let _ = writeln!(out, "repos = {}", array(&self.r_repos));
        }
        if self.r_suggests {
            out.push_str("suggests = true\n");
        }

        self.render_image(&mut out);
        self.render_runtime(&mut out);
        out
    }

    fn render_image(&self, out: &mut String) {
        let set = !self.env.is_empty()
            || !self.labels.is_empty()
            || self.user.is_some()
            || self.workdir.is_some()
            || self.entrypoint.is_some()
            || self.cmd.is_some();
        out.push_str("\n[image]\n");
        if !set {
            out.push_str("# env = { TZ = \"UTC\" }            # the base's config is kept; these change it\n");
        }
        if !self.env.is_empty() {
            let _ = writeln!(out, "env = {}", inline_table(&self.env));
        }
        if !self.labels.is_empty() {
            let _ = writeln!(out, "labels = {}", inline_table(&self.labels));
        }
        if let Some(user) = &self.user {
            let _ = writeln!(out, "user = {}", string(user));
        }
        if let Some(workdir) = &self.workdir {
            let _ = writeln!(out, "workdir = {}", string(workdir));
        }
        if let Some(entrypoint) = &self.entrypoint {
            let _ = writeln!(out, "entrypoint = {}", array(entrypoint));
        }
        if let Some(cmd) = &self.cmd {
            let _ = writeln!(out, "cmd = {}", array(cmd));
        }
    }

    fn render_runtime(&self, out: &mut String) {
        if self.runtime.is_empty() && self.runtime_todo.is_empty() {
            return;
        }
        out.push('\n');
        let active = self.runtime.iter().any(|(k, _)| k == "edition");
        if !active {
            out.push_str("# [runtime] needs an edition: uncomment it with the keys below.\n# ");
        }
        out.push_str("[runtime]\n");
        for line in &self.notes.runtime {
            comment(out, line);
        }
        let prefix = if active { "" } else { "# " };
        for (key, value) in &self.runtime {
            let value = if key == "maintenance-version" && value.parse::<u64>().is_ok() {
                value.clone()
            } else {
                string(value)
            };
            let _ = writeln!(out, "{prefix}{key} = {value}");
        }
        for key in &self.runtime_todo {
            let example = match key.as_str() {
                "edition" => "\"…\"                    # required",
                "maintenance-version" => "1        # an integer; raise it for each new iteration",
                _ => "\"…\"",
            };
            let _ = writeln!(out, "# {key} = {example}");
        }
    }
}

fn comment(out: &mut String, line: &str) {
    if line.is_empty() {
        out.push_str("#\n");
    } else {
        let _ = writeln!(out, "# {line}");
    }
}

fn array(values: &[String]) -> String {
    let items: Vec<String> = values.iter().map(|v| string(v)).collect();
    let one_line = format!("[{}]", items.join(", "));
    if one_line.len() <= 88 {
        return one_line;
    }
    let mut out = String::from("[\n");
    for item in items {
        let _ = writeln!(out, "    {item},");
    }
    out.push(']');
    out
}

fn inline_table(pairs: &[(String, String)]) -> String {
    let items: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{} = {}", key(k), string(v)))
        .collect();
    format!("{{ {} }}", items.join(", "))
}
