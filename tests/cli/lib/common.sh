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

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
