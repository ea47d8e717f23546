//! Property tests of the two files' determinism:
//! - a lock written, read back and written again gives identical bytes;
//! - reformatting a manifest (comments, key and table order, whitespace, quoting, inline
//!   or standard tables, explicit defaults) never changes its normalized hash, while a
//!   change of meaning does.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use proptest::sample::SizeRange;

use rtlock::lockfile::{AptPackage, BaseLock, ImageLock, Lockfile, PipPackage, RKind, RPackage};
use rtlock::manifest::Manifest;
use rtlock::oci::layer::Compression;

// ---------------------------------------------------------------- locks

fn hex64() -> impl Strategy<Value = String> {
    "[0-9a-f]{64}"
}

/// Any text, including quotes, backslashes, control characters and non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9.+~:-]{1,12}",
        any::<String>(),
        "[\"\\\\\n\t\u{7f}\u{1}é日 ]{0,6}",
    ]
}

fn names(size: impl Into<SizeRange>) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-z][a-z0-9.+-]{1,10}", size)
}

/// A Debian version dpkg accepts: an optional epoch, upstream, an optional revision.
fn deb_version() -> impl Strategy<Value = String> {
    "([1-9]:)?[0-9][A-Za-z0-9.+~]{0,6}(-[A-Za-z0-9+~][A-Za-z0-9.+~]{0,3})?"
}

/// A PEP 440 version, with pre-, post- and dev-releases.
fn pep440_version() -> impl Strategy<Value = String> {
    "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}((a|b|rc)[0-9]{1,2})?(\\.post[0-9])?(\\.dev[0-9])?"
}

// The reader refuses what a real lock never holds (a version outside its grammar, a file
// name that is not the entry's, a url that fetches another file, two entries of one
// package), so the entries are real-shaped; free text is exercised by the other fields.
fn apt_package() -> impl Strategy<Value = AptPackage> {
    (
        "[a-z][a-z0-9.+-]{1,10}",
        deb_version(),
        prop_oneof![
            Just("amd64".to_string()),
            Just("all".to_string()),
            Just("arm64".to_string())
        ],
        hex64(),
        any::<u64>(),
        any::<bool>(),
        names(0..4),
    )
        .prop_map(|(name, version, arch, sha256, size, requested, requires)| {
            let plain = version.split_once(':').map_or(version.as_str(), |(_, v)| v);
            let filename = format!("pool/main/{name}_{plain}_{arch}.deb");
            AptPackage {
                url: format!("http://mirror/debian/{filename}"),
                filename,
                name,
                version: version.parse().unwrap(),
                arch,
                sha256,
                size,
                requested,
                needed_by: requires.iter().map(|n| format!("apt:{n}")).collect(),
                requires,
            }
        })
}

fn pip_package() -> impl Strategy<Value = PipPackage> {
    (
        "[a-z]([a-z0-9]|-[a-z0-9]){1,8}",
        pep440_version(),
        hex64(),
        any::<u64>(),
        any::<bool>(),
        names(0..4),
    )
        .prop_map(|(name, version, sha256, size, requested, requires)| {
            let file = format!("{}-{version}-py3-none-any.whl", name.replace('-', "_"));
            PipPackage {
                url: format!("http://127.0.0.1/files/{file}"),
                file,
                name,
                version: version.parse().unwrap(),
                sha256,
                size,
                requested,
                requires,
            }
        })
}

fn r_package() -> impl Strategy<Value = RPackage> {
    (
        "[a-zA-Z][a-zA-Z0-9.]{0,9}[a-zA-Z0-9]",
        "[0-9]{1,3}([.-][0-9]{1,3}){1,3}",
        any::<bool>(),
        hex64(),
        any::<u64>(),
        any::<bool>(),
        names(0..3),
    )
        .prop_map(
            |(name, version, binary, sha256, size, requested, requires)| RPackage {
                url: format!("http://cran.example.org/src/contrib/{name}_{version}.tar.gz"),
                name,
                version: version.parse().unwrap(),
                kind: if binary { RKind::Binary } else { RKind::Source },
                sha256,
                size,
                requested,
                requires,
            },
        )
}

/// `entries` with one entry per `key` (a lock locks each package once).
fn unique<T: std::fmt::Debug, K: Ord>(
    entries: impl Strategy<Value = Vec<T>>,
    key: fn(&T) -> K,
) -> impl Strategy<Value = Vec<T>> {
    entries.prop_map(move |mut all| {
        let mut seen = std::collections::BTreeSet::new();
        all.retain(|e| seen.insert(key(e)));
        all
    })
}

fn string_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(text(), text(), 0..4)
}

prop_compose! {
    fn lockfile()(
        manifest in hex64(),
        source_date_epoch in 0..=rtlock::lockfile::MAX_SOURCE_DATE_EPOCH,
        as_of in prop::option::of(text()),
        reference in text(),
        digest in hex64(),
        base_manifest in hex64(),
        platform in prop_oneof![Just("linux/amd64"), Just("linux/arm64/v8"), Just("linux/arm/v7")],
        compression in prop_oneof![Just(Compression::Gzip), Just(Compression::Zstd)],
        env in string_map(),
        labels in string_map(),
        user in prop::option::of(text()),
        workdir in prop::option::of(text()),
        entrypoint in prop::option::of(prop::collection::vec(text(), 0..3)),
        cmd in prop::option::of(prop::collection::vec(text(), 0..3)),
        apt in unique(prop::collection::vec(apt_package(), 0..5), |p| (p.name.clone(), p.arch.clone())),
        pip in unique(prop::collection::vec(pip_package(), 0..5), |p| p.name.clone()),
        r in unique(prop::collection::vec(r_package(), 0..4), |p| p.name.to_ascii_lowercase()),
    ) -> Lockfile {
        Lockfile {
            version: 1,
            manifest: format!("sha256:{manifest}"),
            source_date_epoch,
            as_of,
            base: BaseLock {
                reference,
                digest: format!("sha256:{digest}").parse().unwrap(),
                manifest: format!("sha256:{base_manifest}").parse().unwrap(),
                platform: platform.parse().unwrap(),
            },
            image: ImageLock { env, labels, user, workdir, entrypoint, cmd, compression },
            apt,
            pip,
            r,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn lock_write_read_write_is_identical(lock in lockfile()) {
        let first = lock.to_toml();
        let read = rtlock::lockfile::parse(&first, Path::new("runtime.lock"))
            .unwrap_or_else(|e| panic!("{e}\n---\n{first}"));
        let mut sorted = lock.clone();
        sorted.sort();
        prop_assert_eq!(&read, &sorted, "reading gives back what was written");
        prop_assert_eq!(read.to_toml(), first);
    }

    #[test]
    fn lock_bytes_do_not_depend_on_entry_order(lock in lockfile(), seed in any::<u64>()) {
        let mut shuffled = lock.clone();
        shuffle(&mut shuffled.apt, seed);
        shuffle(&mut shuffled.pip, seed.rotate_left(7));
        shuffle(&mut shuffled.r, seed.rotate_left(13));
        for p in &mut shuffled.apt {
            shuffle(&mut p.requires, seed);
        }
        prop_assert_eq!(shuffled.to_toml(), lock.to_toml());
    }
}

fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        items.swap(i, (seed >> 33) as usize % (i + 1));
    }
}

// ---------------------------------------------------------------- manifests

/// What a manifest means, to be written out in many styles.
#[derive(Debug, Clone)]
struct Model {
    image: String,
    explicit_platform: bool,
    apt: Vec<String>,
    recommends: Option<bool>,
    pip: Vec<(String, Option<String>)>,
    env: BTreeMap<String, String>,
    edition: Option<String>,
    maintenance: Option<u32>,
    as_of: bool,
}

fn model() -> impl Strategy<Value = Model> {
    (
        // A reference that names its registry host, as the manifest requires.
        "[a-z][a-z0-9]{0,6}\\.[a-z]{2,3}(:[0-9]{1,4})?/[a-z0-9]{1,5}(/[a-z0-9]{1,5}){0,2}:[a-z0-9][a-z0-9.]{0,5}",
        any::<bool>(),
        prop::collection::btree_set("[a-z][a-z0-9]{1,8}", 0..4),
        prop::option::of(any::<bool>()),
        prop::collection::btree_map(
            "[a-z][a-z0-9]{1,8}",
            prop::option::of("[0-9]{1,2}\\.[0-9]{1,2}"),
            0..4,
        ),
        prop::collection::btree_map("[A-Z][A-Z0-9_]{0,6}", any::<String>(), 0..3),
        prop::option::of("[A-Za-z ]{1,12}".prop_filter("non-blank", |s| !s.trim().is_empty())),
        prop::option::of(0u32..100),
        any::<bool>(),
    )
        .prop_map(
            |(image, explicit_platform, apt, recommends, pip, env, edition, maintenance, as_of)| {
                Model {
                    image,
                    explicit_platform,
                    apt: apt.into_iter().collect(),
                    recommends,
                    pip: pip.into_iter().collect(),
                    env,
                    edition,
                    maintenance,
                    as_of,
                }
            },
        )
}

/// How to write a model out: choices that must not change the meaning.
#[derive(Debug, Clone)]
struct Style {
    seed: u64,
    comments: bool,
    literal_strings: bool,
    inline_env: bool,
    dotted_top_level: bool,
    spaced_requirements: bool,
    pad: usize,
}

fn style() -> impl Strategy<Value = Style> {
    (
        any::<u64>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0usize..3,
    )
        .prop_map(
            |(
                seed,
                comments,
                literal_strings,
                inline_env,
                dotted_top_level,
                spaced_requirements,
                pad,
            )| Style {
                seed,
                comments,
                literal_strings,
                inline_env,
                dotted_top_level,
                spaced_requirements,
                pad,
            },
        )
}

fn quote(s: &str, style: &Style) -> String {
    let can_be_literal = !s.chars().any(|c| c == '\'' || c.is_control());
    if style.literal_strings && can_be_literal {
        return format!("'{s}'");
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn render(m: &Model, style: &Style) -> String {
    let eq = format!("{}={}", " ".repeat(style.pad), " ".repeat(style.pad));
    let comment = |what: &str| {
        if style.comments {
            format!("# {what}\n")
        } else {
            String::new()
        }
    };
    let tail = if style.comments {
        "   # trailing comment"
    } else {
        ""
    };
    let mut tables: Vec<(String, Vec<String>)> = Vec::new();

    let mut base = vec![format!("image{eq}{}{tail}", quote(&m.image, style))];
    if m.explicit_platform {
        base.push(format!("platform{eq}{}", quote("linux/amd64", style)));
    }
    tables.push(("base".into(), base));

    let mut apt = Vec::new();
    if !m.apt.is_empty() {
        let items: Vec<String> = m.apt.iter().map(|p| quote(p, style)).collect();
        apt.push(format!("packages{eq}[{}]", items.join(", ")));
    }
    // Writing the default explicitly must not change the hash.
    match m.recommends {
        Some(value) => apt.push(format!("install-recommends{eq}{value}")),
        None if style.seed.is_multiple_of(2) => apt.push(format!("install-recommends{eq}true")),
        None => {}
    }
    if !apt.is_empty() {
        tables.push(("apt".into(), apt));
    }

    if !m.pip.is_empty() {
        let items: Vec<String> = m
            .pip
            .iter()
            .map(|(name, version)| {
                let req = match (version, style.spaced_requirements) {
                    (None, _) => name.clone(),
                    (Some(v), false) => format!("{name}>={v}"),
                    (Some(v), true) => format!("{name} >= {v}"),
                };
                quote(&req, style)
            })
            .collect();
        let sep = if style.comments {
            ",\n  # between items\n  "
        } else {
            ", "
        };
        tables.push((
            "pip".into(),
            vec![format!("packages{eq}[\n  {}\n]", items.join(sep))],
        ));
    }

    if !m.env.is_empty() {
        let pairs: Vec<(String, String)> = m
            .env
            .iter()
            .map(|(k, v)| (k.clone(), quote(v, style)))
            .collect();
        if style.inline_env {
            let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            tables.push((
                "image".into(),
                vec![format!("env{eq}{{ {} }}", inner.join(", "))],
            ));
        } else {
            tables.push((
                "image.env".into(),
                pairs.iter().map(|(k, v)| format!("{k}{eq}{v}")).collect(),
            ));
        }
    }

    if let Some(edition) = &m.edition {
        let mut runtime = vec![format!("edition{eq}{}", quote(edition, style))];
        if let Some(v) = m.maintenance {
            runtime.push(format!("maintenance-version{eq}{v}"));
        }
        tables.push(("runtime".into(), runtime));
    }
    if m.as_of {
        // A TOML date-time and an RFC 3339 string mean the same instant.
        let value = if style.literal_strings {
            "2026-11-01T00:00:00Z".to_string()
        } else {
            quote("2026-11-01T01:00:00+01:00", style)
        };
        tables.push(("lock".into(), vec![format!("as-of{eq}{value}")]));
    }

    shuffle(&mut tables, style.seed);
    let mut out = comment("a runtime manifest");
    for (name, mut lines) in tables {
        shuffle(&mut lines, style.seed.rotate_left(3));
        if style.dotted_top_level && !name.contains('.') {
            // `apt.packages = …` at the top level instead of a [apt] header: same TOML.
            // Dotted keys must come before any table header, so prepend.
            let dotted: String = lines.iter().map(|l| format!("{name}.{l}\n")).collect();
            out = format!("{dotted}{out}");
        } else {
            out.push_str(&format!(
                "\n{}[{name}]\n",
                comment(&format!("section {name}"))
            ));
            for line in lines {
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    out
}

fn hash_of(text: &str) -> String {
    Manifest::parse(text, Path::new("runtime.toml"))
        .unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
        .normalized_hash()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn reformatting_keeps_the_manifest_hash(m in model(), a in style(), b in style()) {
        prop_assert_eq!(hash_of(&render(&m, &a)), hash_of(&render(&m, &b)));
    }

    #[test]
    fn a_change_of_meaning_changes_the_manifest_hash(m in model(), s in style()) {
        let original = hash_of(&render(&m, &s));
        let mut flipped = m.clone();
        flipped.recommends = Some(!m.recommends.unwrap_or(true));
        prop_assert_ne!(&original, &hash_of(&render(&flipped, &s)));
        let mut more = m.clone();
        more.apt.push("zz-added".into());
        prop_assert_ne!(&original, &hash_of(&render(&more, &s)));
        let mut other_base = m;
        other_base.image.push('0');
        prop_assert_ne!(&original, &hash_of(&render(&other_base, &s)));
    }
}
