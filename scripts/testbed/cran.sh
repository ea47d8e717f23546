#!/usr/bin/env bash
# The test bed's CRAN-like repository of real R packages, made from the machine's own
# Debian mirror and cached by a key over every input (mirror, suite, architecture, the
# package lists, the R image that indexes it, the text of the functions that build):
#
#   src/contrib/<Pkg>_<Version>.tar.gz   binary packages: the installed tree that each
#       Debian r-cran-*.deb carries (usr/lib/R/site-library/<Pkg>/, or usr/lib/R/library/
#       for the recommended ones), tarred as <Pkg>/… with a fixed mtime and owner 0, as a
#       binary repository serves them under src/contrib. The set is the closure of
#       TESTBED_CRAN_BINARY_ROOTS over both the debs' r-cran-* Depends and the DESCRIPTIONs'
#       Depends/Imports/LinkingTo, less what the source packages below provide. Where
#       Debian replaced bundled JavaScript/CSS/fonts by symlinks out of the package (shiny,
#       bslib, jquerylib), the files they point to are copied in from the libjs-*/node-*/
#       fonts-* debs, as a CRAN binary holds them. Debian builds an arch:all package once
#       per R ABI, so some binaries say `Built: R 4.0.x` or `4.1.x` under an R 4.2 base.
#   src/contrib/<Pkg>_<Version>.tar.gz   source packages: the CRAN tarballs Debian keeps as
#       its .orig.tarballs (from the Sources index), for the suite (TESTBED_CRAN_SOURCES)
#       or the next Debian release (TESTBED_CRAN_UPDATED); kept byte for byte when they
#       unpack to <Pkg>/ as .tar.gz, else repacked (contents.txt says which).
#   src/contrib/Archive/<Pkg>/           older versions: the suite's .orig of each
#       TESTBED_CRAN_UPDATED package (source) and the previous release's deb of each
#       TESTBED_CRAN_OLD_BINARIES package (a binary built for that release's R), with an
#       index.html as a web server's directory listing shows it.
#   src/contrib/PACKAGES{,.gz,.rds}      written by R's tools::write_PACKAGES in a container
#       of the debian-r image, then checked by R: every Depends/Imports/LinkingTo is in the
#       repository or base R and satisfies its version constraint.
#
# The mirror serves some .orig tarballs and not others: a source package it does not
# serve is skipped with a warning, and the repository must still hold at least one
# compiled source package and one archived version.
#
# shellcheck disable=SC2034 # sets globals that scripts/test reads
# Sourced by scripts/test. Cache: $TESTBED_CACHE/cran/<key>/{repo/,contents.txt,done};
# `done` is written last, and a key directory without it is rebuilt.

TESTBED_CRAN_BINARY_ROOTS="r-cran-ggplot2 r-cran-dplyr r-cran-data.table r-cran-dbi
    r-cran-rsqlite r-cran-shiny r-cran-lme4 r-cran-sf r-cran-igraph r-cran-rcpparmadillo
    r-cran-codetools r-cran-stringi r-cran-survival r-cran-zoo r-cran-httr"
# Pure-R packages, one header-only LinkingTo target, purrr (C, Imports and LinkingTo
# binaries), xml2 (C, needs libxml2-dev: a source build that fails on r-base-dev alone).
TESTBED_CRAN_SOURCES="r-cran-assertthat r-cran-zeallot r-cran-whisker r-cran-formatr
    r-cran-tinytest r-cran-iterators r-cran-foreach r-cran-lambda.r r-cran-futile.options
    r-cran-rcppprogress r-cran-purrr r-cran-xml2"
# Current from the next release, the suite's version archived.
TESTBED_CRAN_UPDATED="r-cran-bitops r-cran-yaml r-cran-cpp11 r-cran-stringr"
TESTBED_CRAN_OLD_BINARIES="r-cran-r6"
# Packages of priority base: in every R, never in a repository.
TESTBED_R_BASE_PACKAGES="base compiler datasets graphics grDevices grid methods parallel
    splines stats stats4 tcltk tools utils"
# Debian's releases in order: the suite's neighbours give the newer and older versions.
TESTBED_DEBIAN_CODENAMES="buster bullseye bookworm trixie forky duke"
TESTBED_CRAN_MTIME=1577836800 # 2020-01-01T00:00:00Z, every file of a binary tarball
TESTBED_ARCHIVE_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

TESTBED_CRAN_BUILDERS=(testbed_cran_build testbed_cran_binaries testbed_cran_sources
    testbed_cran_old_binaries testbed_cran_tar_tree testbed_cran_put_source
    testbed_cran_index testbed_cran_archive_listing testbed_cran_write_packages
    testbed_cran_dcf_field testbed_cran_dep_names testbed_cran_debian_name
    testbed_cran_source_entry testbed_cran_binary_entry testbed_cran_suite_index
    testbed_cran_neighbour testbed_cran_desc_deps testbed_cran_deb_to_tarball
    testbed_cran_fetch_orig testbed_cran_skipped testbed_cran_escaping_links
    testbed_cran_inline_links testbed_cran_apt_depends)

testbed_cran_fetch() { # URL OUT (through the machine's proxy settings, as apt does)
    curl -fsSL --retry 3 --max-time 300 -o "$2" "$1"
}

# The release before (-1) or after (+1) SUITE in Debian's order; fails at either end.
testbed_cran_neighbour() { # SUITE -1|+1
    local -a names
    read -r -a names <<<"$TESTBED_DEBIAN_CODENAMES"
    local i
    for ((i = 0; i < ${#names[@]}; i++)); do
        [[ "${names[i]}" == "$1" ]] || continue
        i=$((i + $2))
        ((i >= 0 && i < ${#names[@]})) || return 1
        echo "${names[i]}"
        return 0
    done
    return 1
}

# Downloads an index of SUITE (e.g. main/source/Sources.xz), checked against the sha256
# that the suite's InRelease lists, itself checked with Debian's archive keyring; prints
# the path of the uncompressed file.
testbed_cran_suite_index() { # WORK MIRROR SUITE PATH
    local work="$1" mirror="$2" suite="$3" path="$4" want got out
    out="$work/index-$suite-${path//\//_}"
    out="${out%.xz}"
    if [[ ! -f "$work/Release-$suite" ]]; then
        testbed_cran_fetch "$mirror/dists/$suite/InRelease" "$work/InRelease-$suite" ||
            return 1
        gpgv --keyring "$TESTBED_ARCHIVE_KEYRING" --output "$work/Release-$suite" \
            "$work/InRelease-$suite" 2>"$work/gpgv-$suite.log" || {
            cat "$work/gpgv-$suite.log" >&2
            testbed_die "the InRelease of $suite does not verify with $TESTBED_ARCHIVE_KEYRING"
        }
    fi
    want=$(awk -v p="$path" '/^SHA256:/ { s = 1; next } /^[^ ]/ { s = 0 } s && $3 == p { print $1 }' \
        "$work/Release-$suite")
    [[ -n "$want" ]] || testbed_die "the Release of $suite lists no $path"
    testbed_cran_fetch "$mirror/dists/$suite/$path" "$out.xz" || return 1
    got=$(sha256sum "$out.xz" | cut -c1-64)
    [[ "$got" == "$want" ]] || testbed_die "$suite/$path: sha256 $got, the Release says $want"
    xz -dc "$out.xz" >"$out" || testbed_die "$suite/$path does not uncompress"
    rm -f "$out.xz"
    echo "$out"
}

# "DIRECTORY FILE SHA256" of the .orig tarball of the source package that builds BINARY.
testbed_cran_source_entry() { # SOURCES BINARY
    awk -v want="$2" '
        BEGIN { RS = ""; FS = "\n" }
        {
            bin = ""; dir = ""; orig = ""; sha = ""; field = ""
            for (i = 1; i <= NF; i++) {
                line = $i
                if (line ~ /^[ \t]/) {
                    if (field == "Binary") bin = bin " " line
                    else if (field == "Checksums-Sha256" && line ~ /\.orig\.tar\.(gz|xz|bz2)$/) {
                        split(line, w, " "); sha = w[1]; orig = w[3]
                    }
                    continue
                }
                field = line; sub(/:.*/, "", field)
                value = line; sub(/^[^:]*:[ \t]*/, "", value)
                if (field == "Binary") bin = value
                else if (field == "Directory") dir = value
            }
            gsub(/,/, " ", bin)
            n = split(bin, names, " ")
            for (j = 1; j <= n; j++) if (names[j] == want && orig != "") { print dir, orig, sha; exit }
        }' "$1"
}

# "FILENAME SHA256" of PACKAGE in a Packages index.
testbed_cran_binary_entry() { # PACKAGES PACKAGE
    awk -v want="$2" '
        BEGIN { RS = ""; FS = "\n" }
        {
            name = ""; file = ""; sha = ""
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^Package: /) name = substr($i, 10)
                else if ($i ~ /^Filename: /) file = substr($i, 11)
                else if ($i ~ /^SHA256: /) sha = substr($i, 9)
            }
            if (name == want) { print file, sha; exit }
        }' "$1"
}

# One field of a DCF file (DESCRIPTION), continuation lines joined by a space.
testbed_cran_dcf_field() { # FILE FIELD
    awk -v want="$2" '
        /^[ \t]/ { if (on) value = value " " substr($0, match($0, /[^ \t]/)); next }
        { on = 0 }
        index($0, want ":") == 1 { on = 1; value = substr($0, length(want) + 2); sub(/^[ \t]+/, "", value) }
        END { sub(/[ \t]+$/, "", value); print value }' "$1"
}

# The package names of a Depends/Imports/LinkingTo value, without R and version constraints.
testbed_cran_dep_names() { # VALUE
    tr ',' '\n' <<<"$1" | sed 's/(.*//; s/[[:space:]]//g' | grep -v -x -e '' -e R || true
}

testbed_cran_debian_name() { # R_PACKAGE
    echo "r-cran-${1,,}"
}

# Tars the installed tree PARENT/PKG as PKG/… into OUT, the same bytes for the same tree.
testbed_cran_tar_tree() { # PARENT PKG OUT
    tar --sort=name --mtime="@$TESTBED_CRAN_MTIME" --owner=0 --group=0 --numeric-owner \
        --format=gnu -C "$1" -cf - "$2" | gzip -9n >"$3"
}

# The symlinks under PKGDIR that resolve outside it (Debian links the JavaScript, CSS and
# fonts that CRAN packages bundle to its own libjs-*, node-* and fonts-* packages).
testbed_cran_escaping_links() { # PKGDIR
    local l
    while IFS= read -r -d '' l; do
        [[ "$(realpath -m "$l")" == "$1"/* ]] || printf '%s\n' "$l"
    done < <(find "$1" -type l -print0)
}

# The packages PACKAGE's candidate depends on, a virtual one replaced by its first provider.
testbed_cran_apt_depends() { # PACKAGE
    apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
        --no-enhances "$1" | awk '
        /^ *[|]?(Pre)?Depends: / { virtual = ($2 ~ /^</); if (!virtual) { sub(/:.*/, "", $2); print $2 }; next }
        /^    / && virtual { sub(/:.*/, "", $1); print $1; virtual = 0 }'
}

# Replaces each symlink of PKGDIR that leaves it by a copy of what it points to, as a CRAN
# binary holds the files themselves: the deb's libjs-*/node-*/fonts-* dependencies (and
# theirs, a few levels) are unpacked into TREE, the root the deb was unpacked into.
# Sets TESTBED_CRAN_NOTE (empty when there was nothing to do).
# (These functions set globals instead of printing: run in $(…), bash would drop set -e.)
testbed_cran_inline_links() { # DEB TREE PKGDIR WORK
    local deb="$1" tree="$2" pkgdir="$3" work="$4" l t round d missing
    local -a links names from=("$deb")
    local -A fetched=()
    TESTBED_CRAN_NOTE=""
    mapfile -t links < <(testbed_cran_escaping_links "$pkgdir")
    ((${#links[@]})) || return 0
    mkdir -p "$work/jsdebs"
    for round in 1 2 3 4; do
        missing=""
        for l in "${links[@]}"; do [[ -e "$l" ]] || missing=1; done
        [[ -n "$missing" ]] || break
        names=()
        for d in "${from[@]}"; do
            for t in $(testbed_cran_apt_depends "$(dpkg-deb -f "$d" Package)" |
                grep -E '^(libjs-|node-|fonts-)' || true); do
                [[ -n "${fetched[$t]:-}" ]] && continue
                fetched[$t]=1
                names+=("$t")
            done
        done
        ((${#names[@]})) || break
        (cd "$work/jsdebs" && apt-get download -q "${names[@]}") >>"$work/apt-download.log" 2>&1 || {
            tail -n 20 "$work/apt-download.log" >&2
            testbed_die "apt-get download ${names[*]} (linked from $(basename "$deb")) failed"
        }
        from=()
        for t in "${names[@]}"; do
            d=$(find "$work/jsdebs" -maxdepth 1 -name "${t}_*.deb" | head -n 1)
            [[ -n "$d" ]] || testbed_die "apt-get download left no ${t}_*.deb"
            dpkg-deb -x "$d" "$tree"
            from+=("$d")
        done
        # Absolute links of those packages point into TREE, not the host (-s: lexically).
        while IFS= read -r -d '' l; do
            t=$(readlink "$l")
            ln -sfn "$(realpath -m -s --relative-to="$(dirname "$l")" "$tree$t")" "$l"
        done < <(find "$tree" -type l -lname '/*' -print0)
    done
    for l in "${links[@]}"; do
        t=$(realpath -e "$l" 2>/dev/null) || t=""
        [[ "$t" == "$tree"/* ]] ||
            testbed_die "$(basename "$deb"): ${l#"$pkgdir"/} -> $(readlink "$l") resolves to nothing its dependencies ship"
        rm "$l"
        cp -RL --preserve=mode "$t" "$l"
    done
    [[ -z "$(testbed_cran_escaping_links "$pkgdir")" ]] ||
        testbed_die "$(basename "$deb"): links out of the package remain after inlining"
    rm -rf "$work/jsdebs"
    TESTBED_CRAN_NOTE="inlined ${#links[@]} links"
}

# Unpacks a deb and tars the R package it installs into DEST as <Pkg>_<Version>.tar.gz;
# sets TESTBED_CRAN_PKG, _VER, _PKGDIR (the unpacked package, for its DESCRIPTION), _NOTE.
testbed_cran_deb_to_tarball() { # DEB WORK DEST
    local deb="$1" work="$2" dest="$3" tree pkg ver d
    local -a found=()
    tree="$work/tree-$(basename "$deb" .deb)"
    rm -rf "$tree"
    mkdir -p "$tree"
    dpkg-deb -x "$deb" "$tree"
    for d in "$tree"/usr/lib/R/site-library/*/DESCRIPTION "$tree"/usr/lib/R/library/*/DESCRIPTION; do
        if [[ -f "$d" ]]; then found+=("$d"); fi
    done
    ((${#found[@]} == 1)) ||
        testbed_die "$(basename "$deb") installs ${#found[@]} R packages (expected one)"
    pkg=$(testbed_cran_dcf_field "${found[0]}" Package)
    ver=$(testbed_cran_dcf_field "${found[0]}" Version)
    [[ -n "$pkg" && -n "$ver" && "$(basename "$(dirname "${found[0]}")")" == "$pkg" ]] ||
        testbed_die "$(basename "$deb"): DESCRIPTION names package '$pkg' version '$ver'"
    testbed_cran_inline_links "$deb" "$tree" "$(dirname "${found[0]}")" "$work"
    testbed_cran_tar_tree "$(dirname "$(dirname "${found[0]}")")" "$pkg" "$dest/${pkg}_$ver.tar.gz"
    TESTBED_CRAN_PKG="$pkg"
    TESTBED_CRAN_VER="$ver"
    TESTBED_CRAN_PKGDIR=$(dirname "${found[0]}")
}

# The Debian names of the packages a DESCRIPTION's Depends/Imports/LinkingTo name.
testbed_cran_desc_deps() { # DESCRIPTION
    local field name
    for field in Depends Imports LinkingTo; do
        for name in $(testbed_cran_dep_names "$(testbed_cran_dcf_field "$1" "$field")"); do
            testbed_cran_debian_name "$name"
        done
    done
}

# Downloads the binary closure with apt-get download and tars each package; appends
# "binary PKG VERSION DEB" lines to WORK/contents. The roots are TESTBED_CRAN_BINARY_ROOTS
# and the dependencies of the source packages already in CONTRIB; the Debian names in
# WORK/provided (the source packages) and the base packages are left out.
testbed_cran_binaries() { # WORK CONTRIB
    local work="$1" contrib="$2" p d tree deb t
    local -A seen=() provided=()
    local -a queue=() batch
    while read -r p; do provided[$p]=1; done <"$work/provided"
    for p in $TESTBED_R_BASE_PACKAGES; do provided[$(testbed_cran_debian_name "$p")]=1; done
    for p in $TESTBED_CRAN_BINARY_ROOTS; do queue+=("$p"); done
    for t in "$contrib"/*.tar.gz; do
        [[ -f "$t" ]] || continue
        p=$(basename "$t")
        tar -xzOf "$t" "${p%%_*}/DESCRIPTION" >"$work/DESCRIPTION.source"
        for d in $(testbed_cran_desc_deps "$work/DESCRIPTION.source"); do queue+=("$d"); done
    done
    mkdir -p "$work/debs"
    while ((${#queue[@]})); do
        batch=()
        for p in "${queue[@]}"; do
            [[ -n "${seen[$p]:-}" || -n "${provided[$p]:-}" ]] && continue
            seen[$p]=1
            apt-cache show --no-all-versions "$p" >/dev/null 2>&1 ||
                testbed_die "no Debian package $p in the machine's apt lists (an R dependency in the CRAN test repository)"
            batch+=("$p")
        done
        queue=()
        ((${#batch[@]})) || break
        (cd "$work/debs" && apt-get download -q "${batch[@]}") >>"$work/apt-download.log" 2>&1 || {
            tail -n 20 "$work/apt-download.log" >&2
            testbed_die "apt-get download ${batch[*]} failed (log above)"
        }
        for p in "${batch[@]}"; do
            deb=$(find "$work/debs" -maxdepth 1 -name "${p}_*.deb" | head -n 1)
            [[ -n "$deb" ]] || testbed_die "apt-get download left no ${p}_*.deb"
            testbed_cran_deb_to_tarball "$deb" "$work" "$contrib"
            tree="$TESTBED_CRAN_PKGDIR"
            echo "binary $TESTBED_CRAN_PKG $TESTBED_CRAN_VER $(basename "$deb")${TESTBED_CRAN_NOTE:+, $TESTBED_CRAN_NOTE}" >>"$work/contents"
            # R's view of the dependencies, and Debian's (which may name more).
            for d in $(testbed_cran_desc_deps "$tree/DESCRIPTION"); do queue+=("$d"); done
            for d in $(dpkg-deb -f "$deb" Depends | sed 's/[,|]/\n/g' |
                sed 's/(.*//; s/:.*//; s/[[:space:]]//g' | grep '^r-cran-' || true); do
                queue+=("$d")
            done
            rm -rf "$work/tree-$(basename "$deb" .deb)" "$deb"
        done
    done
    rm -rf "$work/debs" "$work/DESCRIPTION.source"
}

# Puts a source tarball into DEST as <Pkg>_<Version>.tar.gz: as it is when it is a .tar.gz
# whose only top directory is <Pkg>/, else repacked so. Sets TESTBED_CRAN_PKG, _VER, _HOW.
testbed_cran_put_source() { # TARBALL WORK DEST
    local tarball="$1" work="$2" dest="$3" x tops pkg ver how=as-is
    x="$work/unpack-$(basename "$tarball")"
    rm -rf "$x"
    mkdir -p "$x"
    tar -xf "$tarball" -C "$x" --no-same-owner
    mapfile -t tops < <(find "$x" -mindepth 1 -maxdepth 1)
    if ((${#tops[@]} != 1)) || [[ ! -f "${tops[0]}/DESCRIPTION" ]]; then
        testbed_die "$(basename "$tarball") does not unpack to one directory with a DESCRIPTION"
    fi
    pkg=$(testbed_cran_dcf_field "${tops[0]}/DESCRIPTION" Package)
    ver=$(testbed_cran_dcf_field "${tops[0]}/DESCRIPTION" Version)
    [[ -n "$pkg" && -n "$ver" ]] || testbed_die "$(basename "$tarball"): no Package/Version"
    mkdir -p "$dest"
    if [[ "$tarball" == *.tar.gz && "$(basename "${tops[0]}")" == "$pkg" ]]; then
        cp "$tarball" "$dest/${pkg}_$ver.tar.gz"
    else
        how="repacked from $(basename "$tarball")"
        [[ "$(basename "${tops[0]}")" == "$pkg" ]] || mv "${tops[0]}" "$x/$pkg"
        tar --sort=name --owner=0 --group=0 --numeric-owner --format=gnu -C "$x" -cf - "$pkg" |
            gzip -9n >"$dest/${pkg}_$ver.tar.gz"
    fi
    rm -rf "$x"
    TESTBED_CRAN_PKG="$pkg"
    TESTBED_CRAN_VER="$ver"
    TESTBED_CRAN_HOW="$how"
}

# Downloads the .orig tarball of BINARY's source from the Sources index; prints its path.
# Returns 2 (with a warning) when the index has none or the mirror does not serve it.
testbed_cran_fetch_orig() { # WORK MIRROR SOURCES BINARY
    local work="$1" mirror="$2" entry dir file sha got
    entry=$(testbed_cran_source_entry "$3" "$4")
    if [[ -z "$entry" ]]; then
        testbed_warn "CRAN repo: no source package builds $4 in $(basename "$3"); skipped"
        return 2
    fi
    read -r dir file sha <<<"$entry"
    mkdir -p "$work/orig"
    if ! testbed_cran_fetch "$mirror/$dir/$file" "$work/orig/$file" 2>/dev/null; then
        testbed_warn "CRAN repo: the mirror does not serve $file; $4 skipped"
        rm -f "$work/orig/$file"
        return 2
    fi
    got=$(sha256sum "$work/orig/$file" | cut -c1-64)
    [[ "$got" == "$sha" ]] || testbed_die "$file: sha256 $got, the Sources index says $sha"
    echo "$work/orig/$file"
}

# True when testbed_cran_fetch_orig skipped (status 2); exits on its other failures.
testbed_cran_skipped() { # STATUS
    (($1 == 2)) || exit "$1"
}

# The source packages, current and archived; appends "source …" and "archive …" lines
# to WORK/contents and the Debian names they stand for to WORK/provided.
testbed_cran_sources() { # WORK CONTRIB MIRROR SOURCES NEWER_SOURCES
    local work="$1" contrib="$2" mirror="$3" src="$4" newer="$5" b f nf pkg ver how nver rc
    for b in $TESTBED_CRAN_SOURCES; do
        f=$(testbed_cran_fetch_orig "$work" "$mirror" "$src" "$b") || {
            rc=$?
            testbed_cran_skipped "$rc"
            continue
        }
        testbed_cran_put_source "$f" "$work" "$contrib"
        echo "source $TESTBED_CRAN_PKG $TESTBED_CRAN_VER $TESTBED_CRAN_HOW" >>"$work/contents"
        echo "$b" >>"$work/provided"
    done
    for b in $TESTBED_CRAN_UPDATED; do
        nf=$(testbed_cran_fetch_orig "$work" "$mirror" "$newer" "$b") || {
            rc=$?
            testbed_cran_skipped "$rc"
            continue
        }
        testbed_cran_put_source "$nf" "$work" "$contrib"
        nver="$TESTBED_CRAN_VER"
        echo "source $TESTBED_CRAN_PKG $nver $TESTBED_CRAN_HOW" >>"$work/contents"
        echo "$b" >>"$work/provided"
        f=$(testbed_cran_fetch_orig "$work" "$mirror" "$src" "$b") || {
            rc=$?
            testbed_cran_skipped "$rc"
            continue
        }
        testbed_cran_put_source "$f" "$work" "$work/older"
        pkg="$TESTBED_CRAN_PKG" ver="$TESTBED_CRAN_VER" how="$TESTBED_CRAN_HOW"
        if [[ "$ver" != "$nver" && "$(printf '%s\n' "$ver" "$nver" | sort -V | head -n 1)" == "$ver" ]]; then
            mkdir -p "$contrib/Archive/$pkg"
            mv "$work/older/${pkg}_$ver.tar.gz" "$contrib/Archive/$pkg/"
            echo "archive $pkg $ver source, $how" >>"$work/contents"
        fi
        rm -rf "$work/older"
    done
    rm -rf "$work/orig"
}

# The previous release's debs of TESTBED_CRAN_OLD_BINARIES, as archived binaries (built for
# that release's R) of packages current in CONTRIB.
testbed_cran_old_binaries() { # WORK CONTRIB MIRROR PACKAGES
    local work="$1" contrib="$2" mirror="$3" packages="$4" b entry file sha got pkg ver
    for b in $TESTBED_CRAN_OLD_BINARIES; do
        entry=$(testbed_cran_binary_entry "$packages" "$b")
        [[ -n "$entry" ]] || {
            testbed_warn "CRAN repo: the older release has no $b; no archived binary"
            continue
        }
        read -r file sha <<<"$entry"
        mkdir -p "$work/old-debs" "$work/older"
        testbed_cran_fetch "$mirror/$file" "$work/old-debs/$(basename "$file")" 2>/dev/null || {
            testbed_warn "CRAN repo: the mirror does not serve $file; no archived binary"
            continue
        }
        got=$(sha256sum "$work/old-debs/$(basename "$file")" | cut -c1-64)
        [[ "$got" == "$sha" ]] || testbed_die "$file: sha256 $got, the Packages index says $sha"
        testbed_cran_deb_to_tarball "$work/old-debs/$(basename "$file")" "$work" "$work/older"
        pkg="$TESTBED_CRAN_PKG" ver="$TESTBED_CRAN_VER"
        rm -rf "$work/tree-$(basename "$file" .deb)"
        if compgen -G "$contrib/${pkg}_*.tar.gz" >/dev/null && [[ ! -e "$contrib/${pkg}_$ver.tar.gz" ]]; then
            mkdir -p "$contrib/Archive/$pkg"
            mv "$work/older/${pkg}_$ver.tar.gz" "$contrib/Archive/$pkg/"
            echo "archive $pkg $ver binary, from $(basename "$file")" >>"$work/contents"
        fi
        rm -rf "$work/older"
    done
    rm -rf "$work/old-debs"
}

# An Apache-style directory listing of DIR's files (what a CRAN mirror shows for
# src/contrib/Archive/<Pkg>/), with fixed dates.
testbed_cran_archive_listing() { # DIR URL_PATH
    local dir="$1" path="$2" f name size
    {
        printf '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<html>\n <head>\n'
        printf '  <title>Index of %s</title>\n </head>\n <body>\n<h1>Index of %s</h1>\n' "$path" "$path"
        printf '  <table>\n   <tr><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th><th><a href="?C=S;O=A">Size</a></th></tr>\n'
        printf '   <tr><th colspan="3"><hr></th></tr>\n'
        printf '<tr><td><a href="%s">Parent Directory</a></td><td>&nbsp;</td><td align="right">  - </td></tr>\n' "${path%/*/}/"
        for f in "$dir"/*; do
            name=$(basename "$f")
            [[ "$name" == index.html ]] && continue
            if [[ -d "$f" ]]; then
                printf '<tr><td><a href="%s/">%s/</a></td><td align="right">2020-01-01 00:00  </td><td align="right">  - </td></tr>\n' "$name" "$name"
            else
                size=$(numfmt --to=iec --format='%.0f' "$(stat -c %s "$f")")
                printf '<tr><td><a href="%s">%s</a></td><td align="right">2020-01-01 00:00  </td><td align="right">%s</td></tr>\n' "$name" "$name" "$size"
            fi
        done
        printf '   <tr><th colspan="3"><hr></th></tr>\n</table>\n</body></html>\n'
    } >"$dir/index.html"
}

testbed_cran_index() { # CONTRIB
    local d
    [[ -d "$1/Archive" ]] || return 0
    for d in "$1"/Archive/*/; do
        testbed_cran_archive_listing "${d%/}" "/src/contrib/Archive/$(basename "$d")/"
    done
    testbed_cran_archive_listing "$1/Archive" /src/contrib/Archive/
}

# PACKAGES by R itself, then R checks that the repository is closed: each dependency is
# in it or in base R, at a version that satisfies the constraint, and no package is
# dropped by available.packages' filters (e.g. one needing a newer R).
testbed_cran_write_packages() { # REPO IMAGE
    local repo="$1" image="$2"
    docker run --rm --network none -v "$repo:/repo" "$image" Rscript -e '
        contrib <- "/repo/src/contrib"
        n <- tools::write_PACKAGES(contrib, type = "source")
        db <- read.dcf(file.path(contrib, "PACKAGES"))
        files <- list.files(contrib, pattern = "_.*[.]tar[.]gz$")
        problems <- character()
        if (nrow(db) != length(files))
            problems <- c(problems, sprintf("PACKAGES lists %d packages, src/contrib holds %d tarballs", nrow(db), length(files)))
        if (!"MD5sum" %in% colnames(db) || anyNA(db[, "MD5sum"]))
            problems <- c(problems, "PACKAGES lacks an MD5sum")
        avail <- available.packages(repos = "file:///repo")
        dropped <- setdiff(db[, "Package"], rownames(avail))
        if (length(dropped))
            problems <- c(problems, paste("available.packages() drops", paste(dropped, collapse = ", ")))
        base <- rownames(installed.packages(priority = "base"))
        for (p in rownames(avail)) for (field in c("Depends", "Imports", "LinkingTo")) {
            value <- avail[p, field]
            if (is.na(value)) next
            for (d in tools:::.split_dependencies(value)) {
                name <- d$name
                if (name == "R") have <- getRversion()
                else if (name %in% rownames(avail)) have <- package_version(avail[name, "Version"])
                else if (name %in% base) next
                else { problems <- c(problems, sprintf("%s %s: %s is not in the repository", p, field, name)); next }
                if (!is.null(d$op) && !do.call(d$op, list(have, package_version(d$version))))
                    problems <- c(problems, sprintf("%s %s: %s (%s %s), the repository has %s", p, field, name, d$op, d$version, have))
            }
        }
        if (length(problems)) { writeLines(problems, stderr()); quit(status = 1) }
        cat(sprintf("PACKAGES: %d packages (%d NeedsCompilation: yes)\n", nrow(db),
            sum(db[, "NeedsCompilation"] %in% "yes")))
    ' >&2 || testbed_die "writing or checking PACKAGES of the CRAN test repository failed (R said why above)"
}

# Builds the repository into WORK/repo; BUILD_FN of testbed_cran_cached.
testbed_cran_build() { # WORK MIRROR SUITE ARCH IMAGE
    local work="$1" mirror="$2" suite="$3" arch="$4" image="$5" older newer src nsrc opkgs contrib
    contrib="$work/repo/src/contrib"
    mkdir -p "$contrib"
    : >"$work/contents"
    : >"$work/provided"
    newer=$(testbed_cran_neighbour "$suite" +1) ||
        testbed_die "no Debian release after $suite in TESTBED_DEBIAN_CODENAMES"
    older=$(testbed_cran_neighbour "$suite" -1) ||
        testbed_die "no Debian release before $suite in TESTBED_DEBIAN_CODENAMES"
    src=$(testbed_cran_suite_index "$work" "$mirror" "$suite" main/source/Sources.xz) ||
        testbed_die "cannot read the Sources index of $suite from the machine's mirror"
    nsrc=$(testbed_cran_suite_index "$work" "$mirror" "$newer" main/source/Sources.xz) ||
        testbed_die "cannot read the Sources index of $newer from the machine's mirror"
    opkgs=$(testbed_cran_suite_index "$work" "$mirror" "$older" "main/binary-$arch/Packages.xz") ||
        testbed_die "cannot read the Packages index of $older from the machine's mirror"
    testbed_log "CRAN repo: source packages from the .orig tarballs of $suite and $newer"
    testbed_cran_sources "$work" "$contrib" "$mirror" "$src" "$nsrc"
    testbed_log "CRAN repo: binary packages from r-cran-*.deb (apt-get download)"
    testbed_cran_binaries "$work" "$contrib"
    testbed_cran_old_binaries "$work" "$contrib" "$mirror" "$opkgs"
    rm -f "$src" "$nsrc" "$opkgs"
    grep -q '^archive ' "$work/contents" ||
        testbed_die "CRAN repo: no archived version (the mirror served none of the older tarballs)"
    testbed_cran_index "$contrib"
    chmod -R a+rX "$work/repo"
    testbed_log "CRAN repo: PACKAGES by tools::write_PACKAGES in $image"
    testbed_cran_write_packages "$work/repo" "$image"
    # write_PACKAGES ran as root in the container; the tree stays readable by all.
    chmod -R a+rX "$work/repo"
    sort -o "$work/contents" "$work/contents"
}

# True when a source package of WORK/repo has compiled code (tests build one from source).
testbed_cran_has_compiled_source() { # WORK
    local kind pkg ver rest desc
    while read -r kind pkg ver rest; do
        [[ "$kind" == source ]] || continue
        desc=$(tar -xzOf "$1/repo/src/contrib/${pkg}_$ver.tar.gz" "$pkg/DESCRIPTION")
        grep -qx 'NeedsCompilation: yes' <<<"$desc" && return 0
    done <"$1/contents"
    return 1
}

# Builds (or reuses) the repository; sets TESTBED_CRAN_DIR (the directory holding
# src/contrib) and prints how long it took. IMAGE: the debian-r image in the registry;
# R_KEY: its cache key (the R version that wrote PACKAGES).
testbed_cran() { # MIRROR SUITE ARCH IMAGE R_KEY
    local mirror="$1" suite="$2" arch="$3" image="$4" rkey="$5" key dir lockfd work d mark t0=$SECONDS
    key=$( {
        printf '%s\n' cran "$mirror" "$suite" "$arch" "$rkey" "$TESTBED_CRAN_BINARY_ROOTS" \
            "$TESTBED_CRAN_SOURCES" "$TESTBED_CRAN_UPDATED" "$TESTBED_CRAN_OLD_BINARIES" \
            "$TESTBED_R_BASE_PACKAGES" "$TESTBED_DEBIAN_CODENAMES" "$TESTBED_CRAN_MTIME"
        declare -f "${TESTBED_CRAN_BUILDERS[@]}"
    } | sha256sum | cut -c1-64)
    dir="$TESTBED_CACHE/cran/$key"
    TESTBED_CRAN_DIR="$dir/repo"
    if [[ -f "$dir/done" && -f "$dir/repo/src/contrib/PACKAGES" ]]; then
        touch "$dir/used" 2>/dev/null || true
        testbed_log "CRAN repo: cached (${key:0:12}), $(grep -c '^Package:' "$dir/repo/src/contrib/PACKAGES") packages, $((SECONDS - t0)) s"
        return 0
    fi
    testbed_need_root "build the CRAN test repository"
    mkdir -p "$TESTBED_CACHE/cran"
    exec {lockfd}>"$TESTBED_CACHE/cran/.lock"
    flock -w 1800 "$lockfd" || testbed_die "timed out waiting for the CRAN cache lock"
    for d in "$TESTBED_CACHE"/cran/.build-*; do
        [[ -d "$d" ]] && testbed_remove_tree "$d"
    done
    for d in "$TESTBED_CACHE"/cran/*/; do
        mark="${d}used"
        [[ -f "$mark" ]] || mark="${d}done"
        [[ -f "$mark" && -n "$(find "$mark" -mtime +30)" ]] && testbed_remove_tree "$d"
    done
    if [[ ! -f "$dir/done" ]]; then
        work=$(mktemp -d "$TESTBED_CACHE/cran/.build-XXXXXX")
        chmod 755 "$work"
        TESTBED_CLEANUP_DIRS+=("$work")
        docker pull -q "$image" >/dev/null || testbed_die "docker pull $image failed"
        testbed_cran_build "$work" "$mirror" "$suite" "$arch" "$image"
        testbed_cran_has_compiled_source "$work" ||
            testbed_die "CRAN repo: no source package with NeedsCompilation: yes (the mirror served none of TESTBED_CRAN_SOURCES' compiled ones)"
        find "$work" -mindepth 1 -maxdepth 1 ! -name repo ! -name contents -exec rm -rf {} +
        mv "$work/contents" "$work/contents.txt"
        touch "$work/used"
        date -u +%Y-%m-%dT%H:%M:%SZ >"$work/done" # last: marks the repository complete
        rm -rf "$dir"
        mv "$work" "$dir"
    fi
    exec {lockfd}>&-
    testbed_log "CRAN repo: built in $((SECONDS - t0)) s (${key:0:12}): $(grep -c '^binary ' "$dir/contents.txt") binary, $(grep -c '^source ' "$dir/contents.txt") source, $(grep -c '^archive ' "$dir/contents.txt") archived"
}
