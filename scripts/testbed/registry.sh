#!/usr/bin/env bash
# Two instances of Debian's docker-registry (the CNCF distribution server) on 127.0.0.1:
#   plain: HTTP, no auth
#   tls:   HTTPS with a certificate from a test CA made here, htpasswd (bcrypt) auth
# Storage, configs and keys live under $TESTBED_STATE and are new on every bed.
# shellcheck disable=SC2034 # sets globals that scripts/test reads
# Sourced by scripts/test.

# Test CA and a server certificate for 127.0.0.1 and localhost, valid for a week.
testbed_make_ca() { # DIR
    local d="$1"
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 7 \
        -keyout "$d/ca.key" -out "$d/ca.pem" -subj "/CN=rtlock test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$d/server.key" \
        -out "$d/server.csr" -subj "/CN=localhost" 2>/dev/null
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
        >"$d/server.ext"
    openssl x509 -req -sha256 -days 7 -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
    rm -f "$d/server.csr" "$d/server.ext" "$d/ca.srl"
    # skopeo/containers-image and docker read a directory of *.crt CA files.
    mkdir -p "$d/certs.d"
    cp "$d/ca.pem" "$d/certs.d/ca.crt"
    # System CAs + test CA, usable as SSL_CERT_FILE.
    {
        [[ -f /etc/ssl/certs/ca-certificates.crt ]] && cat /etc/ssl/certs/ca-certificates.crt
        cat "$d/ca.pem"
    } >"$d/ca-bundle.pem"
    openssl verify -CAfile "$d/ca.pem" "$d/server.pem" >/dev/null ||
        testbed_die "the generated server certificate does not verify against the test CA"
}

testbed_registry_config() { # NAME PORT [tls]
    local name="$1" port="$2" dir="$TESTBED_STATE/registry-$1"
    cat <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$port
  secret: $(openssl rand -hex 16)
EOF
    if [[ "${3:-}" == tls ]]; then
        cat <<EOF
  tls:
    certificate: $TESTBED_STATE/ca/server.pem
    key: $TESTBED_STATE/ca/server.key
auth:
  htpasswd:
    realm: rtlock-test
    path: $TESTBED_STATE/htpasswd
EOF
    fi
}

# HTTP status of GET /v2/ (000 when nothing answers).
testbed_registry_status() { # URL [curl arg…]
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 --noproxy '*' "$@" 2>/dev/null || true
}

testbed_registry_ready() { # NAME PORT
    local code
    if [[ "$1" == tls ]]; then
        code=$(testbed_registry_status "https://127.0.0.1:$2/v2/" --cacert "$TESTBED_STATE/ca/ca.pem")
        [[ "$code" == 401 ]]
    else
        code=$(testbed_registry_status "http://127.0.0.1:$2/v2/")
        [[ "$code" == 200 ]]
    fi
}

# Starts one registry on a free port; prints nothing, sets TESTBED_REGISTRY_PORT.
testbed_start_registry() { # NAME [tls]
    local name="$1" dir="$TESTBED_STATE/registry-$1" port pid attempt
    rm -rf "$dir"
    mkdir -p "$dir/storage"
    for attempt in 1 2 3 4 5; do
        port=$(testbed_free_port)
        testbed_registry_config "$name" "$port" "${2:-}" >"$dir/config.yml"
        # fd 9 is scripts/test's checkout lock: a daemon must not hold it.
        setsid docker-registry serve "$dir/config.yml" </dev/null >>"$dir/log" 2>&1 9>&- &
        pid=$!
        if testbed_wait_for_pid 30 "$pid" testbed_registry_ready "$name" "$port"; then
            testbed_record_pid "registry-$name" "$pid"
            TESTBED_REGISTRY_PORT="$port"
            return 0
        fi
        testbed_stop_pid "registry-$name" "$pid"
        grep -q 'address already in use' "$dir/log" 2>/dev/null || break
        testbed_warn "port $port was taken; retrying ($attempt)"
    done
    tail -n 20 "$dir/log" >&2
    testbed_die "docker-registry ($name) did not answer /v2/ (log above)"
}

# Sets TESTBED_REGISTRY, TESTBED_REGISTRY_TLS, TESTBED_REGISTRY_USER/PASSWORD and writes
# the docker config directory with the credentials of the TLS registry.
testbed_registries() {
    testbed_make_ca "$TESTBED_STATE/ca"
    TESTBED_REGISTRY_USER=rtlock
    TESTBED_REGISTRY_PASSWORD=$(openssl rand -hex 16)
    htpasswd -Bbn "$TESTBED_REGISTRY_USER" "$TESTBED_REGISTRY_PASSWORD" >"$TESTBED_STATE/htpasswd" 2>/dev/null
    testbed_start_registry plain
    TESTBED_REGISTRY="127.0.0.1:$TESTBED_REGISTRY_PORT"
    testbed_start_registry tls tls
    TESTBED_REGISTRY_TLS="127.0.0.1:$TESTBED_REGISTRY_PORT"
    testbed_log "registries: $TESTBED_REGISTRY (http), $TESTBED_REGISTRY_TLS (https + htpasswd)"
    local auth
    auth=$(printf '%s:%s' "$TESTBED_REGISTRY_USER" "$TESTBED_REGISTRY_PASSWORD" | base64 -w0)
    mkdir -p "$TESTBED_STATE/docker-config"
    printf '{\n  "auths": {\n    "%s": {\n      "auth": "%s"\n    }\n  }\n}\n' \
        "$TESTBED_REGISTRY_TLS" "$auth" >"$TESTBED_STATE/docker-config/config.json"
    chmod 600 "$TESTBED_STATE/docker-config/config.json"
}

# Copies an OCI layout image into both registries.
testbed_push_image() { # OCI_REF NAME TAG
    local src="$1" name="$2" tag="$3"
    skopeo copy -q --retry-times 2 --dest-tls-verify=false \
        "oci:$src" "docker://$TESTBED_REGISTRY/rtlock-test/$name:$tag" >&2 ||
        testbed_die "skopeo copy to $TESTBED_REGISTRY failed"
    skopeo copy -q --retry-times 2 --dest-cert-dir "$TESTBED_STATE/ca/certs.d" \
        --dest-creds "$TESTBED_REGISTRY_USER:$TESTBED_REGISTRY_PASSWORD" \
        "oci:$src" "docker://$TESTBED_REGISTRY_TLS/rtlock-test/$name:$tag" >&2 ||
        testbed_die "skopeo copy to $TESTBED_REGISTRY_TLS failed"
}
