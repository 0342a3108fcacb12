#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer's coverage instrumentation on the stable
# toolchain (the flags `cargo fuzz build --sanitizer none` passes; our code is safe Rust,
# so a panic, abort, timeout or out-of-memory is what the fuzzer looks for) and runs each
# for SECONDS, growing fuzz/corpus/<target>/ and saving crashes to fuzz/artifacts/<target>/.
# Only `-Zsanitizer=...` needs nightly; `-Cpasses=sancov-module` and `-Cllvm-args` are
# stable codegen options (rust-fuzz/cargo-fuzz#440: `--sanitizer none` works on stable).
# An uninstrumented build would make libFuzzer stop at once with "no interesting inputs".
#
# Usage: fuzz/run.sh SECONDS [TARGET...]      (all targets when none is named)
# Env:   FUZZ_CORPUS_COPY=1  fuzz a temporary copy of the corpus (CI: the checkout stays clean)
#        FUZZ_TARGET_DIR     cargo target dir (default fuzz/target, apart from the workspace's)
# Exit:  non-zero when any target found a crash.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:?usage: fuzz/run.sh SECONDS [TARGET...]}"
shift
triple="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
--cfg fuzzing -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target}"
# `--target` keeps build scripts and proc macros uninstrumented.
cargo build --release --target "$triple" --bins
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//')
fi
status=0
for t in "${targets[@]}"; do
  corpus="corpus/$t"
  if [ "${FUZZ_CORPUS_COPY:-0}" = 1 ]; then
    corpus="$(mktemp -d)"
    cp -r "corpus/$t/." "$corpus/" 2>/dev/null || true
  fi
  mkdir -p "$corpus" "artifacts/$t"
  before="$(find "$corpus" -type f | wc -l)"
  echo "== $t: ${secs}s"
  if ! "$CARGO_TARGET_DIR/$triple/release/$t" "$corpus" -max_total_time="$secs" \
      -rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="artifacts/$t/" 2>"$CARGO_TARGET_DIR/$t.log"; then
    status=1
    echo "!! $t found a crash (artifacts/$t/):"
  fi
  echo "corpus: $before -> $(find "$corpus" -type f | wc -l) files"
  # The last status line (cov: edges, ft: features, corp: units/bytes), the final stats,
  # and what a crash printed.
  grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE)' "$CARGO_TARGET_DIR/$t.log" | tail -n 1 || true
  grep -E '^stat::|^==[0-9]+== ERROR|panicked at|^SUMMARY' "$CARGO_TARGET_DIR/$t.log" || true
  if [ "${FUZZ_CORPUS_COPY:-0}" = 1 ]; then
    rm -rf "$corpus"
  fi
done
exit $status
