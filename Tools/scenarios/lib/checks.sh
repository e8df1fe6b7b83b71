# Sourced by the QEMU scenarios: one line per check ("ok"/"FAIL"), a failure count, and a wait with a deadline.
# The scenario sets `work` (its scratch directory) before calling `check`; it ends with `[ "$fails" = 0 ]`.
fails=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
# check WHAT CMD...: runs CMD; its output is shown (last 20 lines) only when it fails.
check() { local what=$1; shift; if "$@" >"$work/out" 2>&1; then ok "$what"; else fail "$what"; sed 's/^/     /' "$work/out" | tail -20; return 1; fi; }
# waitfor N CMD...: until CMD succeeds, for at most N × 0.2 s of wall time (a deadline, not N tries: under TCG one
# try of a pipeline costs about as much as the sleep).
waitfor() {
  local end=$(( ${EPOCHREALTIME/./} + $1 * 200000 )); shift
  while :; do "$@" >/dev/null 2>&1 && return 0; [ "${EPOCHREALTIME/./}" -lt "$end" ] || return 1; sleep 0.2; done
}
