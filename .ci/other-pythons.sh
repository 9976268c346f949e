#!/usr/bin/env bash
# The fast suite on Python 3.10 and 3.13 (the oldest and newest the package claims), each in a fresh venv, where
# such an interpreter exists on this machine; says so plainly where it does not.
set -euo pipefail
project=${1:-$(pwd)}

find_python() {  # an interpreter of exactly this minor version, or nothing
    local minor=$1 candidate
    local roots=()
    command -v pyenv >/dev/null 2>&1 && roots+=("$(pyenv root)/versions")
    roots+=("$HOME/.pyenv/versions")
    for candidate in "${roots[@]/%//$minor.*/bin/python$minor}" "/usr/local/bin/python$minor" "/usr/bin/python$minor"; do
        for found in $candidate; do  # the glob may name several patch releases: any that runs will do
            if [ -x "$found" ] && "$found" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$minor'.split('.')))" \
                2>/dev/null; then
                echo "$found"
                return 0
            fi
        done
    done
    return 0
}

for minor in 3.10 3.13; do
    python=$(find_python "$minor")
    if [ -z "$python" ]; then
        echo "Python $minor: not installed on this machine, so its run is left out (pyenv install $minor adds it)."
        continue
    fi
    venv=$(mktemp -d "${TMPDIR:-/tmp}/rollout-py$minor.XXXXXX")
    trap 'rm -rf "$venv"' EXIT
    echo "Python $minor: $("$python" --version 2>&1) at $python, fresh venv in $venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e "$project[test]"
    (cd "$project" && "$venv/bin/python" -m pytest -p no:cacheprovider)
    rm -rf "$venv"
    trap - EXIT
done
