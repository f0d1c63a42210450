# common.sh - what every command-line test script shares (sourced, not run):
# a scratch folder removed on exit, `check NAME COMMAND...` that counts a
# pass when COMMAND succeeds, and `finish` that prints the summary line
# ("N passed, N failed") and returns non-zero on any failure.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

check() {
    local name="$1"
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $name" >&2
    fi
}

# usage_error NAME MESSAGE ARGS...: `r1 $USAGE_COMMAND ARGS` is a usage
# error: exit status 2, MESSAGE and the usage on stderr, nothing on stdout
usage_error() {
    local name="$1" message="$2"
    shift 2
    "$R1" "$USAGE_COMMAND" "$@" >"$WORK/out" 2>"$WORK/err"
    local status=$?
    check "$name: exits 2 (got $status)" test "$status" -eq 2
    check "$name: says '$message'" grep -qF -- "$message" "$WORK/err"
    check "$name: shows the usage" grep -q "^usage: r1 $USAGE_COMMAND" "$WORK/err"
    check "$name: nothing on stdout" test ! -s "$WORK/out"
}

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
