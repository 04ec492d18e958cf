# shellcheck shell=bash
# Sourced by the build scripts: progress for steps that take minutes on a cold machine.
#
#   with_progress LABEL USUALLY CMD...
#
# runs CMD, says what it builds and how long that usually takes, prints the elapsed time
# every minute while it runs and the total when it ends (all on stderr), and returns
# CMD's exit status. A person watching a cold `make test` sees what is happening instead
# of twenty silent minutes.
with_progress() {
  local label=$1 usually=$2; shift 2
  local t0=$SECONDS pid rc=0 hb
  echo ">> $label (cold: usually $usually; cached afterwards)" >&2
  "$@" &
  pid=$!
  (
    n=0
    while kill -0 "$pid" 2>/dev/null; do
      sleep 5; n=$((n + 5))
      [ $((n % 60)) -ne 0 ] || echo ">>   $label: $((n / 60)) min so far" >&2
    done
  ) &
  hb=$!
  wait "$pid" || rc=$?
  kill "$hb" 2>/dev/null || true
  wait "$hb" 2>/dev/null || true
  if [ "$rc" -eq 0 ]; then
    echo ">> $label: done in $((SECONDS - t0))s" >&2
  else
    echo ">> $label: FAILED after $((SECONDS - t0))s (exit $rc)" >&2
  fi
  return "$rc"
}

# lock_or_wait FD WHAT: take the lock open on FD (flock), saying so when another build of
# WHAT holds it and this one waits.
lock_or_wait() {
  local fd=$1 what=$2
  if ! flock -n "$fd"; then
    echo ">> another build of $what is running; waiting for it" >&2
    flock "$fd"
  fi
}
