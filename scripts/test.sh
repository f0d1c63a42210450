#!/bin/sh
# test.sh - `make test`: every test of the optimised build, then the unit
# tests again under AddressSanitizer + UndefinedBehaviorSanitizer, the
# threaded ones under ThreadSanitizer, a build with clang-14 (warnings are
# errors there too), a short run of every fuzz harness, then a one-line
# summary ("N passed, N failed") for CI.
#   usage: scripts/test.sh BUILD_DIR ASAN_BUILD_DIR JOBS
set -u
BUILD="$1"
ASAN_BUILD="$2"
JOBS="$3"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

echo "== tests (Release build) =="
(cd "$BUILD" && ctest --output-on-failure -j"$JOBS") 2>&1 | tee -a "$LOG"

echo "== unit tests under ASan + UBSan =="
cmake -S . -B "$ASAN_BUILD" -DCMAKE_BUILD_TYPE=Debug -DR1_SANITIZE=ON >/dev/null &&
    cmake --build "$ASAN_BUILD" -j"$JOBS" >/dev/null &&
    (cd "$ASAN_BUILD" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --output-on-failure -j"$JOBS" -E '^(cli|server|ha)_') 2>&1 | tee -a "$LOG"
[ -d "$ASAN_BUILD" ] || echo "The following tests FAILED: sanitizer build" >>"$LOG"

# The tests whose work runs on several threads at once: the pool, the
# forward pass's products and row-wise steps, the engine's sampling. Where
# allowed (not in every container), setarch -R turns off address
# randomisation, whose large mmap offsets on some kernels make gcc 12's
# ThreadSanitizer abort at start.
TSAN_TESTS="test_threadpool test_context test_deepseek2 test_engine"
NO_ASLR=""
setarch "$(uname -m)" -R true 2>/dev/null && NO_ASLR="setarch $(uname -m) -R"
echo "== threaded unit tests under ThreadSanitizer =="
if cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DR1_TSAN=ON >/dev/null &&
    cmake --build build-tsan -j"$JOBS" --target $TSAN_TESTS >/dev/null; then
    (cd build-tsan && TSAN_OPTIONS="halt_on_error=1" R1_TEST_SKIP="test_batching_*" $NO_ASLR \
        ctest --output-on-failure -j"$JOBS" -R "^($(echo $TSAN_TESTS | tr ' ' '|'))\$") 2>&1 | tee -a "$LOG"
else
    echo "1 tests failed out of 1 (the ThreadSanitizer build)" | tee -a "$LOG"
fi

# The clang build also runs the row operations' tests: their AVX2 and
# AVX-512 builds must round as the plain one (clang would fuse a * b + c
# without the -ffp-contract=off of CMakeLists.txt).
echo "== clang-14 build (-Wall -Wextra -Werror) =="
if cmake -S . -B build-clang -DCMAKE_C_COMPILER=clang-14 >/dev/null && cmake --build build-clang -j"$JOBS" >/dev/null; then
    echo "clang-14 build: OK"
    (cd build-clang && ctest --output-on-failure -R '^test_ops$') 2>&1 | tee -a "$LOG"
else
    echo "1 tests failed out of 1 (the clang-14 build)" | tee -a "$LOG"
fi

# Every parser of outside input has a libFuzzer harness; each runs a short
# while here (R1_FUZZ_SECONDS, default 15) under ASan + UBSan. `make fuzz`
# runs one for longer. A finding fails the run and is left in build-fuzz/.
FUZZ_SECONDS="${R1_FUZZ_SECONDS:-15}"
HARNESSES="gguf tokenize api metrics sealed jwt audio decoder_reply multipart vad_model whisper_model whisper_rules tts_text speech_request"
FUZZ_TESTDATA=$(cd "${R1_TESTDATA:-../shared/testdata}" 2>/dev/null && pwd || echo /nonexistent) # run-fuzz.sh changes folder
echo "== fuzz harnesses, $FUZZ_SECONDS s each (libFuzzer, ASan + UBSan) =="
fuzz_failed=0
if cmake -S . -B build-fuzz -DR1_FUZZ=ON -DCMAKE_C_COMPILER=clang-14 -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
    cmake --build build-fuzz -j"$JOBS" --target $(for h in $HARNESSES; do
        case $h in api) echo fuzz_api_request ;; metrics) echo fuzz_metrics_text ;;
                   sealed) echo fuzz_sealed_header ;; *) echo "fuzz_$h" ;; esac; done) >/dev/null; then
    for h in $HARNESSES; do
        if R1_FUZZ_BUILD="$PWD/build-fuzz" ./fuzz/run-fuzz.sh "$FUZZ_SECONDS" "$FUZZ_TESTDATA" "$h" \
            >"$LOG.fuzz" 2>&1; then
            echo "fuzz $h: no finding in $(grep -o 'number_of_executed_units: *[0-9]*' "$LOG.fuzz" | grep -o '[0-9]*$') runs"
        else
            echo "fuzz $h: FAILED"
            tail -n 40 "$LOG.fuzz"
            fuzz_failed=$((fuzz_failed + 1))
        fi
    done
else
    echo "fuzz harnesses: the build failed"
    fuzz_failed=1
fi
rm -f "$LOG.fuzz"
echo "$fuzz_failed tests failed out of $(echo $HARNESSES | wc -w) (fuzz harnesses)" >>"$LOG"

# ctest prints "N tests failed out of M" per run; add them up.
passed=0
failed=0
for line in $(grep -Eo '[0-9]+ tests failed out of [0-9]+' "$LOG" | sed -E 's/([0-9]+) tests failed out of ([0-9]+)/\1:\2/'); do
    f=${line%%:*}
    t=${line##*:}
    failed=$((failed + f))
    passed=$((passed + t - f))
done
if ! grep -q 'tests failed out of' "$LOG"; then failed=$((failed + 1)); fi
# The reference tests skip (loudly) when the shared reference data is absent.
skipped=0
TESTDATA="${R1_TESTDATA:-../shared/testdata}"
if [ ! -d "$TESTDATA/llm" ]; then
    skipped=1
    echo
    echo "*** SKIPPED: reference tests: $TESTDATA/llm is missing, so the engine was NOT checked"
    echo "*** against the reference logits. Set R1_TESTDATA to the shared/testdata folder. ***"
fi
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
