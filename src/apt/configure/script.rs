//! The shell script that configures the new packages inside the container.
//!
//! rtlock's installer has already done what `dpkg --unpack` does to the filesystem
//! (files, `info/*`, the status entries), without running anything. The script does the
//! rest, in dpkg's order as far as it can:
//!
//! 1. `preinst install` of each new package that has one. dpkg runs it *before* the
//!    files are unpacked; here the files are already in place. For a new install that
//!    differs only for a preinst that inspects or moves the package's own files, which
//!    Debian policy leaves to the postinst.
//! 2. The new packages' trigger interests are registered in `triggers/File` and
//!    `triggers/NAME`, as `dpkg --unpack` does, so that later installs (and the steps
//!    below) reach them.
//! 3. Triggers the new files activate: file triggers whose interest path is a prefix of
//!    a new file, the new packages' own `activate` directives (dpkg activates them when
//!    it unpacks or configures the package, and a package without a postinst is never
//!    configured here), and `ldconfig` when a shared library was added.
//! 4. `dpkg --configure -a`, which runs each postinst in dependency order, then
//!    `dpkg --triggers-only -a` for triggers still pending.
//!
//! `fc-cache` is replaced by a stand-in that does nothing: all it writes is dropped by
//! the normalization ([`super::normalize::is_noise`]), and it takes seconds.
//!
//! The script takes the packages as its arguments (`sh -c SCRIPT sh PKG…`), so names
//! are never pasted into shell text. Its output goes to standard output only, so the
//! log reads in order.

/// `/etc/shadow` as it was before any script ran (to tell the entries they add); the
/// script's working files are next to it, under `/tmp`, so never captured.
pub const SHADOW_BEFORE: &str = "tmp/rtlock-configure/shadow.before";

/// The line the script prints when a preinst fails: `rtlock: preinst of NAME failed`.
pub(crate) const PREINST_FAILED: &str = "rtlock: preinst of ";

/// The configure script; run it as `sh -c SCRIPT sh PKG…`.
pub fn script() -> &'static str {
    r##"set -u
exec 2>&1
info=/var/lib/dpkg/info
triggers=/var/lib/dpkg/triggers
work=/tmp/rtlock-configure
mkdir -p "$work"
cp -p /etc/shadow "$work/shadow.before" 2>/dev/null || :

# fc-cache writes only what the capture drops (its caches under /var/cache/fontconfig
# and its log): a stand-in that does nothing spares the seconds it takes.
mkdir -p "$work/bin"
printf '#!/bin/sh\nexit 0\n' > "$work/bin/fc-cache"
chmod 755 "$work/bin/fc-cache"
PATH=$work/bin:$PATH
export PATH

# The info files of the new packages (NAME.EXT, or NAME:ARCH.EXT for Multi-Arch: same),
# from one listing of the directory: a glob per package and extension costs a scan of
# the whole directory each time.
printf '%s\n' "$@" > "$work/packages"
ls "$info" | awk 'NR == FNR { wanted[$0]; next }
    { name = $0; sub(/\.[^.]*$/, "", name); sub(/:.*$/, "", name)
      if (name in wanted) print }' "$work/packages" - > "$work/info-files"
info_files() {
    grep "\.$1\$" "$work/info-files" | sed "s|^|$info/|"
}

info_files list | xargs -r cat | sort -u > "$work/new-files"

# 1. preinst install.
for s in $(info_files preinst); do
    name=${s##*/}; name=${name%.preinst}
    arch=$(dpkg-query -W -f='${Architecture}' "$name")
    echo "rtlock: running the preinst of $name"
    if ! DPKG_MAINTSCRIPT_PACKAGE=${name%%:*} DPKG_MAINTSCRIPT_ARCH=$arch \
        DPKG_MAINTSCRIPT_NAME=preinst DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT=1 "$s" install; then
        echo "rtlock: preinst of $name failed"
        exit 1
    fi
done

# The new packages' trigger directives, read in one pass (a command per file adds up
# over the dozens of libraries that each activate ldconfig): "interest DIRECTIVE
# TRIGGER PKG" and "activate TRIGGER" lines. A trigger name ends at blanks or `#`.
info_files triggers | xargs -r awk '
    FNR == 1 { name = FILENAME; sub(/.*\//, "", name); sub(/\.triggers$/, "", name) }
    { line = $0; sub(/#.*/, "", line); if (split(line, word) < 2) next }
    word[1] ~ /^interest(-await|-noawait)?$/ { print "interest", word[1], word[2], name }
    word[1] ~ /^activate(-await|-noawait)?$/ { print "activate", word[2] }
' > "$work/trigger-directives"

# 2. Trigger interests, in dpkg's formats: "PATH PKG[/noawait]" in File, "PKG[/noawait]"
# in a file named after an explicit trigger.
grep '^interest ' "$work/trigger-directives" |
while read -r _ directive trigger name; do
    owner=$name
    [ "$directive" = interest-noawait ] && owner="$name/noawait"
    case $trigger in
        /*) line="$trigger $owner"; file=$triggers/File ;;
        *) line=$owner; file=$triggers/$trigger ;;
    esac
    grep -qxF "$line" "$file" 2>/dev/null || echo "$line" >> "$file"
done

# 3. Activate what the new files hit.
if [ -f "$triggers/File" ]; then
    awk 'NR == FNR { interest[$1]; next }
         { for (p in interest) if ($0 == p || index($0, p "/") == 1) hit[p] }
         END { for (p in hit) print p }' "$triggers/File" "$work/new-files" | sort
fi > "$work/activate"
sed -n 's/^activate //p' "$work/trigger-directives" >> "$work/activate"
if grep -Eq '/lib[^/]*/(.*/)?[^/]+\.so(\.[0-9]+)*$' "$work/new-files"; then
    echo ldconfig >> "$work/activate"
fi
for trigger in $(sort -u "$work/activate"); do
    echo "rtlock: activating trigger $trigger"
    dpkg-trigger --no-await "$trigger" || exit 1
done

# 4. Configure, then whatever triggers are still pending.
dpkg --configure -a || exit 1
dpkg --triggers-only -a || exit 1
audit=$(dpkg --audit)
if [ -n "$audit" ]; then
    echo "$audit"
    exit 1
fi
"##
}

/// The packages a failed run names in its log: dpkg's `error processing package NAME`
/// lines and the script's own preinst lines, in order, without repeats.
pub fn failed_packages(log: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for line in log.lines() {
        let name = if let Some(rest) = line.split("error processing package ").nth(1) {
            rest.split_whitespace().next()
        } else if let Some(rest) = line.strip_prefix(PREINST_FAILED) {
            rest.split_whitespace().next()
        } else {
            None
        };
        if let Some(name) = name.map(|n| n.trim_end_matches(['(', ':', ')']))
            && !name.is_empty()
            && !found.iter().any(|f| f == name)
        {
            found.push(name.to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_log_names_the_packages_dpkg_and_the_script_report() {
        let log = "Setting up rtlock-fails (1.0) ...\n\
                   dpkg: error processing package rtlock-fails (--configure):\n \
                   installed rtlock-fails package post-installation script subprocess returned error exit status 3\n\
                   dpkg: error processing package libfoo1:amd64 (--configure):\n\
                   dpkg: error processing package rtlock-fails (--configure):\n\
                   rtlock: preinst of other:amd64 failed\n";
        assert_eq!(
            failed_packages(log),
            ["rtlock-fails", "libfoo1:amd64", "other:amd64"]
        );
        assert!(failed_packages("Setting up x (1) ...\n").is_empty());
    }
}
