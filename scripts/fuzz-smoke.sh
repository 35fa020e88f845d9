#!/usr/bin/env bash
# Builds every cargo-fuzz target listed as a [[bin]] in fuzz/Cargo.toml and runs each for a few
# seconds, printing the number of executions per target. A crash fails the run; its input is left
# in fuzz/artifacts/<target>/.
#
#   scripts/fuzz-smoke.sh [seconds] [target...]     (default: 30 seconds, every target)
#
# cargo-fuzz needs nightly compiler flags (sanitizers, coverage instrumentation); RUSTC_BOOTSTRAP=1
# lets the stable toolchain accept them. The build uses its own target directory (fuzz/target), so
# it never waits on the workspace build lock. Corpora persist in fuzz/corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
shift || true
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [seconds] [target...]" >&2
    exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
unset CARGO_TARGET_DIR
fuzz_flags=(--fuzz-dir fuzz --target-dir fuzz/target -O --debug-assertions)

# Every `name = "..."` that follows a `[[bin]]` line.
mapfile -t all_targets < <(awk '
    /^\[\[bin\]\]/ { in_bin = 1; next }
    /^\[/ { in_bin = 0 }
    in_bin && /^name *=/ { gsub(/^name *= *"|".*$/, ""); print; in_bin = 0 }
' fuzz/Cargo.toml)
targets=("${@:-${all_targets[@]}}")
if [ "${#targets[@]}" -eq 0 ]; then
    echo "no [[bin]] targets in fuzz/Cargo.toml" >&2
    exit 1
fi

echo "== building ${#targets[@]} fuzz target(s)"
cargo fuzz build "${fuzz_flags[@]}"

log_dir=fuzz/target/smoke-logs
mkdir -p "$log_dir"
failed=0
summary=()
for target in "${targets[@]}"; do
    echo "== $target: ${seconds}s"
    mkdir -p "fuzz/corpus/$target"
    log="$log_dir/$target.log"
    status=ok
    if ! timeout "$((seconds + 300))" cargo fuzz run "${fuzz_flags[@]}" "$target" \
        "fuzz/corpus/$target" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        status=FAILED
        failed=1
        tail -n 40 "$log"
    fi
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    summary+=("$(printf '%-28s %14s executions  %s' "$target" "${execs:-?}" "$status")")
done

echo "== fuzz smoke summary (${seconds}s per target; logs in $log_dir)"
printf '%s\n' "${summary[@]}"
exit "$failed"
