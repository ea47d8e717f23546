#!/usr/bin/env bash
# The test bed's base images: real Debian root filesystems made by debootstrap from the
# machine's own mirror, packed into OCI image layouts with umoci, and cached by a key that
# covers every input (mirror, suite, architecture, package list and the text of the
# functions that build).
#
#   debian-minimal  one layer:  debootstrap --variant=minbase
#   debian-python   two layers: the minimal layer + what `apt-get install python3 python3-pip`
#                   added (umoci unpack → chroot apt-get → umoci repack makes the diff layer)
#   debian-r        two layers: the minimal layer + r-base-core (--no-install-recommends, so
#                   no r-recommended: the base library holds the base packages only)
#   debian-r-dev    three layers: debian-r + r-base-dev (compilers, headers: source builds)
#
# shellcheck disable=SC2034 # sets globals that scripts/test reads
# Sourced by scripts/test. Needs root (debootstrap, chroot, umoci unpack keeping owners).
# Cache: $TESTBED_CACHE/images/<key>/{oci/,done}; `done` is written last, and a key
# directory without it is rebuilt. A fresh machine (empty cache) always builds.

TESTBED_PYTHON_PACKAGES="python3 python3-pip"
TESTBED_R_PACKAGES="r-base-core"
TESTBED_R_DEV_PACKAGES="r-base-dev"
TESTBED_IMAGE_PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The functions that decide what goes into an image; their text is part of the cache key,
# so changing how images are built rebuilds them (and changing the caching does not).
TESTBED_IMAGE_BUILDERS=(testbed_chroot testbed_clean_apt testbed_make_devices
    testbed_build_minimal testbed_build_with_packages _testbed_minimal_fn _testbed_python_fn)

# Cache key: sha256 over the inputs, one per line, and the builders' text.
testbed_image_key() { # NAME INPUT…
    {
        printf '%s\n' "$@" "$TESTBED_IMAGE_PATH_ENV"
        declare -f "${TESTBED_IMAGE_BUILDERS[@]}"
    } | sha256sum | cut -c1-64
}

# Runs a command in the rootfs with a clean, non-interactive environment.
# The machine's proxy settings pass through (apt in the chroot reaches the same mirror).
testbed_chroot() { # ROOTFS CMD…
    local rootfs="$1" v proxy=()
    shift
    for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
        [[ -n "${!v:-}" ]] && proxy+=("$v=${!v}")
    done
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "${proxy[@]}" chroot "$rootfs" "$@"
}

# Leaves the rootfs as an image should hold it: no apt lists, no downloaded .debs, no
# pkgcache, no logs of the build. /etc/apt/sources.list stays (rtlock reads it).
testbed_clean_apt() { # ROOTFS
    local r="$1"
    rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin \
        "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/archives/partial/* \
        "$r"/var/log/apt/* "$r"/var/log/dpkg.log "$r"/var/log/bootstrap.log \
        "$r"/var/cache/ldconfig/aux-cache "$r"/root/.cache
    mkdir -p "$r"/var/lib/apt/lists/partial
}

# Device nodes a chroot needs for apt and dpkg (the image itself holds an empty /dev, as
# container images do: the runtime provides /dev).
testbed_make_devices() { # ROOTFS
    local r="$1"
    mknod -m 666 "$r/dev/null" c 1 3
    mknod -m 666 "$r/dev/zero" c 1 5
    mknod -m 666 "$r/dev/random" c 1 8
    mknod -m 666 "$r/dev/urandom" c 1 9
}

# debootstrap --variant=minbase into a one-layer OCI image at LAYOUT:TAG.
testbed_build_minimal() { # LAYOUT TAG MIRROR SUITE ARCH WORKDIR
    local layout="$1" tag="$2" mirror="$3" suite="$4" arch="$5" work="$6"
    local bundle="$work/bundle-minimal"
    local keyring=() variant=minbase
    [[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] &&
        keyring=(--keyring /usr/share/keyrings/debian-archive-keyring.gpg)

    umoci init --layout "$layout"
    umoci new --image "$layout:$tag"
    umoci unpack --image "$layout:$tag" "$bundle"
    testbed_log "debootstrap --variant=$variant $suite ($arch) from the machine's mirror"
    if ! debootstrap --variant="$variant" --arch="$arch" "${keyring[@]}" \
        "$suite" "$bundle/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
        tail -n 30 "$work/debootstrap.log" >&2
        [[ -f "$bundle/rootfs/debootstrap/debootstrap.log" ]] &&
            tail -n 30 "$bundle/rootfs/debootstrap/debootstrap.log" >&2
        testbed_die "debootstrap failed (log above)"
    fi
    testbed_clean_apt "$bundle/rootfs"
    # debootstrap copies the build host's resolver config and name; an image holds neither.
    : >"$bundle/rootfs/etc/resolv.conf"
    echo localhost >"$bundle/rootfs/etc/hostname"
    chmod 644 "$bundle/rootfs/etc/resolv.conf" "$bundle/rootfs/etc/hostname"
    find "$bundle/rootfs/dev" -mindepth 1 -delete
    umoci repack --image "$layout:$tag" \
        --history.created_by "debootstrap --variant=$variant --arch=$arch $suite" "$bundle"
    umoci config --image "$layout:$tag" --config.env "$TESTBED_IMAGE_PATH_ENV" \
        --config.cmd bash --history.created_by 'config: PATH, CMD ["bash"]'
    umoci gc --layout "$layout"
    rm -rf "$bundle"
}

# The minimal image plus one diff layer with PACKAGES installed by the image's own apt.
testbed_build_with_packages() { # MIN_LAYOUT LAYOUT TAG WORKDIR PACKAGE…
    local min="$1" layout="$2" tag="$3" work="$4"
    shift 4
    local bundle="$work/bundle-$tag-packages" r proc_mounted=""
    cp -a "$min" "$layout"
    umoci unpack --image "$layout:$tag" "$bundle"
    r="$bundle/rootfs"
    # The chroot needs name resolution and a few devices for the duration of apt-get only;
    # cp -a keeps the image's own resolv.conf (and its mtime) out of the diff layer.
    cp -a "$r/etc/resolv.conf" "$work/resolv.conf.image"
    cp /etc/resolv.conf "$r/etc/resolv.conf"
    testbed_make_devices "$r"
    printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
    chmod 755 "$r/usr/sbin/policy-rc.d"
    testbed_log "apt-get install $* in a chroot of the minimal image"
    {
        testbed_chroot "$r" apt-get update &&
            testbed_chroot "$r" apt-get install -y --no-install-recommends "$@"
    } >"$work/apt-$tag.log" 2>&1 || {
        # Some maintainer scripts want /proc; mount it only when the plain chroot failed.
        if [[ ! -e "$r/proc/self" ]] && mount -t proc proc "$r/proc"; then
            proc_mounted=1
            testbed_log "retrying with /proc mounted in the chroot"
            testbed_chroot "$r" apt-get install -y --no-install-recommends "$@" \
                >>"$work/apt-$tag.log" 2>&1 || true
            umount "$r/proc"
        fi
        if [[ -z "$proc_mounted" ]] || ! testbed_chroot "$r" dpkg -s "$@" >/dev/null 2>&1; then
            tail -n 30 "$work/apt-$tag.log" >&2
            testbed_die "apt-get install $* in the chroot failed (log above)"
        fi
    }
    rm -f "$r/usr/sbin/policy-rc.d" "$r"/dev/{null,zero,random,urandom}
    cp -a "$work/resolv.conf.image" "$r/etc/resolv.conf"
    testbed_clean_apt "$r"
    umoci repack --image "$layout:$tag" \
        --history.created_by "apt-get install --no-install-recommends $*" "$bundle"
    umoci gc --layout "$layout"
    rm -rf "$bundle"
}

# Checks a cached layout: the done marker, and every blob of the tagged image present.
testbed_layout_complete() { # DIR TAG
    local dir="$1" tag="$2"
    [[ -f "$dir/done" && -f "$dir/oci/index.json" && -d "$dir/oci/blobs/sha256" ]] || return 1
    skopeo inspect --raw "oci:$dir/oci:$tag" >/dev/null 2>&1
}

# Builds (or reuses) one image; sets TESTBED_CACHED_DIR to its cache directory.
# BUILD_FN gets LAYOUT TAG WORKDIR ARG….
testbed_cached_image() { # NAME KEY TAG BUILD_FN ARG…
    local name="$1" key="$2" tag="$3" fn="$4"
    shift 4
    local dir="$TESTBED_CACHE/images/$key"
    TESTBED_CACHED_DIR="$dir"
    if testbed_layout_complete "$dir" "$tag"; then
        touch "$dir/used" 2>/dev/null || true
        testbed_log "image $name: cached (${key:0:12})"
        return 0
    fi
    testbed_need_root "build the $name base image (debootstrap, chroot)"
    local work t0=$SECONDS
    work=$(mktemp -d "$TESTBED_CACHE/images/.build-$name-XXXXXX")
    chmod 755 "$work" # tests may run as another user; the layouts are readable by all
    TESTBED_CLEANUP_DIRS+=("$work")
    "$fn" "$work/oci" "$tag" "$work" "$@" >&2
    rm -f "$work"/*.log
    touch "$work/used"
    date -u +%Y-%m-%dT%H:%M:%SZ >"$work/done" # last: marks the layout complete
    rm -rf "$dir"
    mv "$work" "$dir"
    testbed_log "image $name: built in $((SECONDS - t0)) s (${key:0:12})"
}

_testbed_minimal_fn() { # LAYOUT TAG WORKDIR MIRROR SUITE ARCH
    testbed_build_minimal "$1" "$2" "$4" "$5" "$6" "$3"
}
_testbed_python_fn() { # LAYOUT TAG WORKDIR MIN_LAYOUT
    # shellcheck disable=SC2086 # the package list is a word list
    testbed_build_with_packages "$4" "$1" "$2" "$3" $TESTBED_PYTHON_PACKAGES
}
# The R images' own builders are keyed by their text passed as an input (not listed in
# TESTBED_IMAGE_BUILDERS, whose text is in every key: adding them must not rebuild the
# minimal and python images).
_testbed_r_fn() { # LAYOUT TAG WORKDIR MIN_LAYOUT
    # shellcheck disable=SC2086 # the package list is a word list
    testbed_build_with_packages "$4" "$1" "$2" "$3" $TESTBED_R_PACKAGES
}
_testbed_r_dev_fn() { # LAYOUT TAG WORKDIR R_LAYOUT
    # shellcheck disable=SC2086 # the package list is a word list
    testbed_build_with_packages "$4" "$1" "$2" "$3" $TESTBED_R_DEV_PACKAGES
}

# Sets TESTBED_IMAGE_MINIMAL_DIR, TESTBED_IMAGE_PYTHON_DIR, TESTBED_IMAGE_R_DIR and
# TESTBED_IMAGE_R_DEV_DIR (cache dirs holding oci/; the key is each dir's name), and
# TESTBED_R_IMAGES_SECONDS (how long the R images took, for the bed's timing line).
testbed_images() { # MIRROR SUITE ARCH
    local mirror="$1" suite="$2" arch="$3" kmin kpy kr krdev lockfd="" d mark t0
    kmin=$(testbed_image_key debian-minimal "$mirror" "$suite" "$arch" minbase)
    kpy=$(testbed_image_key debian-python "$kmin" "$TESTBED_PYTHON_PACKAGES")
    kr=$(testbed_image_key debian-r "$kmin" "$TESTBED_R_PACKAGES" "$(declare -f _testbed_r_fn)")
    krdev=$(testbed_image_key debian-r-dev "$kr" "$TESTBED_R_DEV_PACKAGES" \
        "$(declare -f _testbed_r_dev_fn)")
    # A cache we cannot write (a user reusing root's) is only read: a missing image then
    # asks for root.
    if mkdir -p "$TESTBED_CACHE/images" 2>/dev/null && [[ -w "$TESTBED_CACHE/images" ]]; then
        # One builder at a time per cache (two checkouts may share it).
        exec {lockfd}>"$TESTBED_CACHE/images/.lock"
        flock -w 1800 "$lockfd" || testbed_die "timed out waiting for the image cache lock"
        # Leftovers of interrupted builds (we hold the lock, so nobody else is building).
        for d in "$TESTBED_CACHE"/images/.build-*; do
            [[ -d "$d" ]] && testbed_remove_tree "$d"
        done
        # Images no run has used for 30 days (older versions of this file, other mirrors).
        for d in "$TESTBED_CACHE"/images/*/; do
            mark="${d}used"
            [[ -f "$mark" ]] || mark="${d}done"
            [[ -f "$mark" && -n "$(find "$mark" -mtime +30)" ]] && testbed_remove_tree "$d"
        done
    fi
    testbed_cached_image debian-minimal "$kmin" "$suite" \
        _testbed_minimal_fn "$mirror" "$suite" "$arch"
    TESTBED_IMAGE_MINIMAL_DIR="$TESTBED_CACHED_DIR"
    testbed_cached_image debian-python "$kpy" "$suite" \
        _testbed_python_fn "$TESTBED_IMAGE_MINIMAL_DIR/oci"
    TESTBED_IMAGE_PYTHON_DIR="$TESTBED_CACHED_DIR"
    t0=$SECONDS
    testbed_cached_image debian-r "$kr" "$suite" _testbed_r_fn "$TESTBED_IMAGE_MINIMAL_DIR/oci"
    TESTBED_IMAGE_R_DIR="$TESTBED_CACHED_DIR"
    testbed_cached_image debian-r-dev "$krdev" "$suite" _testbed_r_dev_fn "$TESTBED_IMAGE_R_DIR/oci"
    TESTBED_IMAGE_R_DEV_DIR="$TESTBED_CACHED_DIR"
    TESTBED_R_IMAGES_SECONDS=$((SECONDS - t0))
    if [[ -n "$lockfd" ]]; then exec {lockfd}>&-; fi
}
