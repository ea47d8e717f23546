#!/usr/bin/env bash
# The Docker Engine of the test bed: the one that answers `docker info`, else a dockerd
# started here (default storage driver first, vfs when that does not come up).
# shellcheck disable=SC2034 # sets globals that scripts/test reads
# Sourced by scripts/test. Sets TESTBED_DOCKER_HOST and TESTBED_STARTED_DOCKERD.

testbed_docker_answers() {
    timeout 20 docker info >/dev/null 2>&1
}

testbed_start_dockerd() { # EXTRA_ARG…
    local log="$TESTBED_STATE/dockerd.log" pid
    echo "==> dockerd $* ($(date -u +%FT%TZ))" >>"$log"
    # fd 9 is scripts/test's checkout lock: a daemon must not hold it.
    setsid dockerd "$@" </dev/null >>"$log" 2>&1 9>&- &
    pid=$!
    if testbed_wait_for_pid 90 "$pid" testbed_docker_answers; then
        testbed_record_pid dockerd "$pid"
        TESTBED_STARTED_DOCKERD="$pid"
        return 0
    fi
    testbed_stop_pid dockerd "$pid"
    return 1
}

testbed_docker() {
    TESTBED_STARTED_DOCKERD=""
    if testbed_docker_answers; then
        testbed_log "Docker Engine: running ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
    else
        testbed_need_root "start dockerd"
        testbed_log "Docker Engine: starting dockerd (log: $TESTBED_STATE/dockerd.log)"
        if ! testbed_start_dockerd; then
            testbed_warn "dockerd did not come up with its default storage driver; trying vfs"
            testbed_start_dockerd --storage-driver=vfs || {
                tail -n 30 "$TESTBED_STATE/dockerd.log" >&2
                testbed_die "could not start dockerd (log above)"
            }
        fi
        testbed_log "Docker Engine: started dockerd $TESTBED_STARTED_DOCKERD ($(docker info -f '{{.Driver}}' 2>/dev/null))"
    fi
    TESTBED_DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}"
}

# Removes from the Docker Engine the image tags pulled from the bed's registries (their
# ports are new on every bed, so the tags would only pile up). Images a container still
# uses stay.
testbed_docker_forget() { # REGISTRY…
    local refs r
    [[ $# -gt 0 ]] || return 0
    refs=$(timeout 20 docker images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null) || return 0
    for r in "$@"; do
        [[ -n "$r" ]] || continue
        grep -F "$r/" <<<"$refs" | grep -v ':<none>$' | xargs -r timeout 60 docker rmi >/dev/null 2>&1 || true
    done
}
