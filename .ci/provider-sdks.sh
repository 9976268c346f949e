#!/usr/bin/env bash
# Runs the tests that drive the provider SDKs against one set of SDK releases, in a fresh venv of its own:
#   oldest  the oldest releases rollout-otel supports, exactly (src/rollout_otel/_sdk_versions.py names them)
#   newest  the newest releases on the package index (upgraded on every run)
# Usage: bash .ci/provider-sdks.sh oldest|newest
# The venv lives in ${ROLLOUT_CI_CACHE:-$HOME/.cache/rollout-otel-ci}/sdk-<mode> and is made anew each run;
# ROLLOUT_CI_PYTHON picks the interpreter (default: python).
set -euo pipefail

mode="${1:-}"
if [[ "$mode" != "oldest" && "$mode" != "newest" ]]; then
    echo "usage: $0 oldest|newest" >&2
    exit 2
fi
cd "$(dirname "$0")/.."
root="$PWD"
python="${ROLLOUT_CI_PYTHON:-python}"
venv="${ROLLOUT_CI_CACHE:-$HOME/.cache/rollout-otel-ci}/sdk-$mode"
sdks=(openai anthropic boto3 botocore google-genai)
# Every test file that traces calls made through a provider SDK.
tests=(
    tests/test_openai.py tests/test_anthropic.py tests/test_gemini.py tests/test_bedrock.py tests/test_content.py
    tests/test_distro.py tests/test_faults.py tests/test_metrics.py
)
# test_llm_server.py checks the bundled server's wire formats with the current SDKs as the judge (their exception
# classes, their parsing); it traces nothing, so it runs with the newest releases only.
if [[ "$mode" == "newest" ]]; then
    tests+=(tests/test_llm_server.py)
fi
started=$SECONDS

echo "provider-sdks[$mode]: fresh venv in $venv"
rm -rf "$venv"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip
if [[ "$mode" == "oldest" ]]; then
    mapfile -t wanted < <("$python" src/rollout_otel/_sdk_versions.py)
    "${pip[@]}" install -e "$root[test]" "${wanted[@]}"
else
    wanted=()
    "${pip[@]}" install --upgrade --upgrade-strategy eager -e "$root[test]" "${sdks[@]}"
fi

# The versions this run got, one line, and (oldest) a check that they are exactly the pins.
versions="$("$venv/bin/python" - "${sdks[@]}" <<'PY'
import sys
from importlib.metadata import version

print(" ".join(f"{name}=={version(name)}" for name in sys.argv[1:]))
PY
)"
echo "provider-sdks[$mode]: python $("$venv/bin/python" -c 'import platform; print(platform.python_version())'), $versions"
for pin in "${wanted[@]}"; do
    if [[ " $versions " != *" $pin "* ]]; then
        echo "provider-sdks[$mode]: FAILED: pip installed [$versions], not the pinned $pin" >&2
        exit 1
    fi
done
echo "provider-sdks[$mode]: installed in $((SECONDS - started)) s; running ${#tests[@]} test files"

# The venv's bin first: the distro tests run `opentelemetry-instrument` as a user would.
status=0
PATH="$venv/bin:$PATH" "$venv/bin/python" -m pytest -n 2 -p no:cacheprovider "${tests[@]}" || status=$?
if [[ $status -ne 0 ]]; then
    echo "provider-sdks[$mode]: FAILED (pytest exit $status) with $versions, after $((SECONDS - started)) s"
    exit "$status"
fi
echo "provider-sdks[$mode]: passed with $versions in $((SECONDS - started)) s"
