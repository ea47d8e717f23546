#!/usr/bin/env bash
# Small helpers shared by the test-bed scripts. Sourced by scripts/test.

testbed_log() { printf '==> %s\n' "$*" >&2; }
testbed_warn() { printf '==> warning: %s\n' "$*" >&2; }
testbed_die() {
    printf '==> error: %s\n' "$*" >&2
    exit 1
}

testbed_need_root() { # WHY
    ((EUID == 0)) || testbed_die "need root to $1; run scripts/test as root (e.g. with sudo)"
}

# Removes a directory tree that may have a mount inside (a chroot's /proc): unmount first,
# and never cross into another file system.
testbed_remove_tree() { # DIR
    local dir mnt
    dir=$(realpath -m "$1")
    [[ -e "$dir" ]] || return 0
    while read -r _ mnt _; do
        mnt=$(printf '%b' "$mnt") # /proc/mounts escapes spaces as \040
        [[ "$mnt" == "$dir"/* ]] && umount -l "$mnt" 2>/dev/null
    done < <(tac /proc/mounts)
    rm -rf --one-file-system "$dir"
}

# Installs the Debian packages that are not installed yet; apt-get update once, only when
# something is missing or apt has no package lists (the apt oracle tests read them).
testbed_apt_install_missing() { # PACKAGE…
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed ||
            missing+=("$p")
    done
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        testbed_need_root "read Debian's package lists (apt-get update)"
        testbed_log "apt-get update (no package lists yet)"
        apt-get update -qq >&2 || testbed_die "apt-get update failed"
    fi
    ((${#missing[@]} == 0)) && return 0
    testbed_need_root "install ${missing[*]} with apt-get"
    testbed_log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || testbed_die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
        testbed_die "apt-get install ${missing[*]} failed"
}

# Waits up to SECONDS for CMD… to succeed.
testbed_wait_for() { # SECONDS CMD…
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# Waits up to SECONDS for CMD… to succeed while process PID lives; fails early when it dies.
testbed_wait_for_pid() { # SECONDS PID CMD…
    local deadline=$((SECONDS + $1)) pid="$2"
    shift 2
    until "$@" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || return 1
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# True when something listens on 127.0.0.1:PORT.
testbed_port_busy() { # PORT
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints a port on 127.0.0.1 that nothing listens on (the caller retries on a lost race).
testbed_free_port() {
    local port i
    for ((i = 0; i < 100; i++)); do
        port=$((20000 + RANDOM % 40000))
        testbed_port_busy "$port" || {
            echo "$port"
            return 0
        }
    done
    testbed_die "found no free port on 127.0.0.1"
}

# .testbed/pids holds "NAME PID" lines for the processes a bed started.
testbed_record_pid() { # NAME PID
    echo "$1 $2" >>"$TESTBED_STATE/pids"
}

# True when PID is alive and its command line contains WORD (guards against reused pids).
testbed_pid_is() { # PID WORD
    local cmdline
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
    [[ "$cmdline" == *"$2"* ]]
}

testbed_stop_pid() { # NAME PID
    local name="$1" pid="$2" word="$1" i
    case "$name" in
    registry-*) word=docker-registry ;;
    dockerd) word=dockerd ;;
    esac
    testbed_pid_is "$pid" "$word" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 150; i++)); do
        testbed_pid_is "$pid" "$word" || return 0
        sleep 0.1
    done
    testbed_warn "$name ($pid) did not stop in 15 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

# Stops everything listed in .testbed/pids, newest first, and forgets them.
testbed_stop_recorded() {
    local f="$TESTBED_STATE/pids" name pid
    [[ -f "$f" ]] || return 0
    while read -r name pid; do
        [[ -n "$pid" ]] || continue
        testbed_log "stopping $name ($pid)"
        testbed_stop_pid "$name" "$pid"
    done < <(tac "$f")
    rm -f "$f"
}

# True when every process in .testbed/pids is alive.
testbed_recorded_alive() {
    local f="$TESTBED_STATE/pids" name pid word n=0
    [[ -s "$f" ]] || return 1
    while read -r name pid; do
        word="$name"
        [[ "$name" == registry-* ]] && word=docker-registry
        testbed_pid_is "$pid" "$word" || return 1
        n=$((n + 1))
    done <"$f"
    ((n > 0))
}
