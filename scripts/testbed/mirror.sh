#!/usr/bin/env bash
# Reads the machine's apt sources and prints "URI SUITE" of the first `deb` source that is
# the Debian main archive (component main, a plain codename suite such as bookworm: not
# -updates, -security, -backports or a third-party "nodistro"). Nothing here names a host:
# the mirror always comes from this machine's configuration.
#
# Sourced by scripts/test (function testbed_debian_mirror) or run directly.

# One-line form: "deb [options] URI SUITE COMPONENT…", in /etc/apt/sources.list and
# /etc/apt/sources.list.d/*.list. deb822 form: stanzas of "Types:", "URIs:", "Suites:",
# "Components:", "Enabled:" in /etc/apt/sources.list.d/*.sources. Prints one candidate per
# line as "URI SUITE COMPONENTS(comma-separated)", in apt's reading order.
testbed_apt_sources() {
    local root="${TESTBED_APT_ROOT:-}" f
    # apt reads sources.list first, then sources.list.d/* in lexical order of file names.
    local files=("$root/etc/apt/sources.list")
    for f in "$root"/etc/apt/sources.list.d/*; do files+=("$f"); done
    for f in "${files[@]}"; do
        [[ -f "$f" ]] || continue
        case "$f" in
        *.sources) testbed_parse_deb822 <"$f" ;;
        *.list) testbed_parse_oneline <"$f" ;;
        esac
    done
}

testbed_parse_oneline() {
    awk '
        { sub(/#.*/, "") }
        $1 != "deb" { next }
        {
            i = 2
            if ($i ~ /^\[/) {            # [ options ], possibly spanning fields
                while (i <= NF && $i !~ /\]$/) i++
                i++
            }
            uri = $i; suite = $(i + 1); comps = ""
            for (j = i + 2; j <= NF; j++) comps = comps (comps == "" ? "" : ",") $j
            if (uri != "" && suite != "") print uri, suite, comps
        }'
}

testbed_parse_deb822() {
    awk '
        function flush(   nu, ns, u, s, au, as, comps) {
            if (types ~ /(^|[ \t])deb([ \t]|$)/ && tolower(enabled) != "no") {
                comps = components; gsub(/[ \t]+/, ",", comps); sub(/^,/, "", comps); sub(/,$/, "", comps)
                nu = split(uris, au, /[ \t]+/); ns = split(suites, as, /[ \t]+/)
                for (u = 1; u <= nu; u++) for (s = 1; s <= ns; s++)
                    if (au[u] != "" && as[s] != "") print au[u], as[s], comps
            }
            types = uris = suites = components = enabled = field = ""
        }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        /^[ \t]/ {                       # continuation line of a multi-line field
            v = $0; sub(/^[ \t]+/, "", v)
            if (field == "types") types = types " " v
            else if (field == "uris") uris = uris " " v
            else if (field == "suites") suites = suites " " v
            else if (field == "components") components = components " " v
            next
        }
        {
            key = tolower($0); sub(/:.*/, "", key)
            v = $0; sub(/^[^:]*:[ \t]*/, "", v); sub(/[ \t]+$/, "", v)
            field = key
            if (key == "types") types = v
            else if (key == "uris") uris = v
            else if (key == "suites") suites = v
            else if (key == "components") components = v
            else if (key == "enabled") enabled = v
        }
        END { flush() }'
}

# Prints "URI SUITE". Prefers the suite named by /etc/os-release VERSION_CODENAME, else the
# first plain codename suite with component main. Returns 1 when none is found.
testbed_debian_mirror() {
    local codename="" uri suite comps first=""
    if [[ -r "${TESTBED_APT_ROOT:-}/etc/os-release" ]]; then
        # shellcheck disable=SC1091 # the machine's file
        codename=$(. "${TESTBED_APT_ROOT:-}/etc/os-release" && echo "${VERSION_CODENAME:-}")
    fi
    while read -r uri suite comps; do
        [[ "$uri" =~ ^(https?|file): ]] || continue
        [[ ",$comps," == *,main,* ]] || continue
        [[ "$suite" =~ ^[a-z]+$ && "$suite" != nodistro ]] || continue
        uri="${uri%/}"
        if [[ -n "$codename" && "$suite" == "$codename" ]]; then
            echo "$uri $suite"
            return 0
        fi
        [[ -n "$first" ]] || first="$uri $suite"
    done < <(testbed_apt_sources)
    [[ -n "$first" ]] || return 1
    echo "$first"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    testbed_debian_mirror
fi
