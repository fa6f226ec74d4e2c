#!/usr/bin/env bash
# The installed service, booted: systemd as PID 1 in a container (systemd-nspawn) over the amd64
# Debian Bookworm root of scripts/debian_root.sh, where `install.sh` installs a bundle with its
# unit; then, against the real systemd and the unit's full hardening:
#   1. the unit is enabled and left stopped; `systemctl start` returns once edge-fer sent
#      READY=1 (Type=notify), its STATUS= shows, WATCHDOG=1 arrives, records reach the log;
#   2. a re-install while it runs restarts it on the new venv and removes the old one;
#   3. a re-install that fails (a broken wheel) leaves the running service, its venv and model
#      untouched;
#   4. `systemctl stop` ends it cleanly (exit 0, a final summary record);
#   5. a re-install while it is stopped leaves it stopped.
# Needs root and systemd-nspawn (systemd-container); prints one "skipped:" line and exits 0
# without them. Environment: PYTHON (builds the bundle, default .venv/bin/python),
# EDGE_FER_ROOTS (see scripts/debian_root.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"

skip() { echo "check_service: skipped: $1"; exit 0; }
log() { echo "check_service: $(date +%T) $1"; }
fail() { echo "check_service: FAILED: $1" >&2; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, mounts, systemd-nspawn)"
if ! command -v systemd-nspawn >/dev/null || ! command -v debootstrap >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        systemd-container debootstrap >/dev/null) \
        || skip "no systemd-nspawn or debootstrap (apt install systemd-container debootstrap)"
fi
command -v nsenter >/dev/null || skip "no nsenter (util-linux)"
# shellcheck source=scripts/debian_root.sh
. scripts/debian_root.sh
START=$SECONDS

WORK="$(mktemp -d /tmp/edge-fer-service.XXXXXX)"
ROOT="$WORK/root"
NSPAWN=""
MOUNTED=0
cleanup() {
    if [ -n "$NSPAWN" ] && kill -0 "$NSPAWN" 2>/dev/null; then
        kill "$NSPAWN" 2>/dev/null || true  # nspawn asks the container's systemd to power off
        for _ in $(seq 30); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 1; done
        kill -9 "$NSPAWN" 2>/dev/null || true
    fi
    [ "$MOUNTED" = 0 ] || umount -l "$ROOT" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

LOWER="$(debian_root amd64)" || fail "no amd64 Debian root"
mkdir -p "$ROOT" "$WORK/upper" "$WORK/ovl"
if mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$WORK/upper,workdir=$WORK/ovl" "$ROOT" \
        2>/dev/null; then MOUNTED=1; else cp -a "$LOWER/." "$ROOT"; fi

log "building the bundle (bookworm-x86_64, with wheels)"
"$PYTHON" -m edge_fer bundle --out "$ROOT/bundle" --target bookworm-x86_64 --with-wheels >/dev/null
cp -a "$ROOT/bundle" "$ROOT/bundle-broken"
echo "not a wheel" > "$(ls "$ROOT"/bundle-broken/edge_fer-*.whl)"
# The service's camera: the bundle's clip, replayed, where the unit's dynamic user can read it.
mkdir -p "$ROOT/srv/check" && cp "$ROOT/bundle/check.avi" "$ROOT/srv/check/"
chmod -R a+rX "$ROOT/srv/check"

# --register=no --keep-unit: the host needs no systemd or machined of its own.
systemd-nspawn --quiet --register=no --keep-unit -D "$ROOT" -M edge-fer-check --boot \
    < /dev/null > "$WORK/console.log" 2>&1 &
NSPAWN=$!
# The container's PID 1 is the child of nspawn that runs systemd (a first child, nspawn's own,
# comes and goes before it).
LEADER=""
for _ in $(seq 60); do
    LEADER="$( (ps -o pid=,comm= --ppid "$NSPAWN" || true) | awk '$2 == "systemd" {print $1; exit}')"
    [ -n "$LEADER" ] && break
    sleep 0.5
done
[ -n "$LEADER" ] || { tail -5 "$WORK/console.log"; fail "the container did not boot"; }
in_ct() { nsenter -t "$LEADER" -a env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root \
    LANG=C.UTF-8 "$@"; }
prop() { in_ct systemctl show edge-fer.service -p "$1" --value; }
booted=offline  # until the container's systemd answers; then it waits for the boot's end
for _ in $(seq 60); do
    booted="$(timeout 90 nsenter -t "$LEADER" -a systemctl is-system-running --wait || true)"
    [ "$booted" = offline ] || break
    sleep 1
done
case "$booted" in running|degraded) ;; *)
    tail -5 "$WORK/console.log"; fail "the container's systemd is '$booted' after boot";; esac
log "container booted (systemd $booted)"

install() {  # $1: the bundle folder in the container; its output in $WORK/install.log
    local t0=$SECONDS
    in_ct bash "$1/install.sh" --prefix /opt/edge-fer > "$WORK/install.log" 2>&1 || return 1
    log "installed in $((SECONDS - t0)) s: $(tail -1 "$WORK/install.log" | sed 's/^install.sh: //')"
}

# -- 1. a fresh install: enabled, stopped; then started on the clip --------------------------
install /bundle || { cat "$WORK/install.log"; fail "install.sh failed"; }
[ "$(in_ct systemctl is-enabled edge-fer.service)" = enabled ] || fail "the unit is not enabled"
[ "$(prop ActiveState)" = inactive ] || fail "a fresh install started the service"
in_ct sed -i -e 's#^EDGE_FER_SOURCE=.*#EDGE_FER_SOURCE=/srv/check/check.avi#' \
    -e '$a EDGE_FER_LOOP=true' /etc/edge-fer/edge-fer.env
# Type=notify: start returns once edge-fer has sent READY=1, and fails if it never does.
in_ct systemctl start edge-fer.service \
    || { in_ct journalctl -u edge-fer -n 20 --no-pager; fail "systemctl start failed"; }
[ "$(prop ActiveState)/$(prop SubState)" = active/running ] || fail "not active after start"
status="$(prop StatusText)"
[ -n "$status" ] || fail "no STATUS= from edge-fer"
log "started: READY=1 received, status '$status'"
# WatchdogSec=30: edge-fer pings every 10 s; systemd stamps each ping.
first="$(prop WatchdogTimestampMonotonic)"
for _ in $(seq 25); do
    [ "$(prop WatchdogTimestampMonotonic)" != "$first" ] && break
    sleep 1
done
[ "$(prop WatchdogTimestampMonotonic)" != "$first" ] || fail "no WATCHDOG=1 within 25 s"
faces="$(in_ct grep -c '"type": *"face"' /var/log/edge-fer/emotions.jsonl || true)"
[ "${faces:-0}" -gt 0 ] || fail "no face records in /var/log/edge-fer/emotions.jsonl"
[ "$(prop NRestarts)" = 0 ] || fail "the service restarted $(prop NRestarts) times"
log "WATCHDOG=1 received; $faces face records in the log, no restarts"

# -- 2. re-install while it runs: restarted on the new venv --------------------------------
pid="$(prop MainPID)"; venv="$(in_ct readlink /opt/edge-fer/venv)"
install /bundle || { cat "$WORK/install.log"; fail "the re-install failed"; }
grep -q "restarting edge-fer.service" "$WORK/install.log" || fail "the re-install did not restart it"
[ "$(prop ActiveState)" = active ] && [ "$(prop MainPID)" != "$pid" ] \
    || fail "not running again under a new process after the re-install"
new="$(in_ct readlink /opt/edge-fer/venv)"
[ "$new" != "$venv" ] && ! in_ct test -e "/opt/edge-fer/$venv" \
    || fail "the venv was not switched ($venv -> $new) or the old one is left"
log "re-installed while running: restarted (pid $pid -> $(prop MainPID)), venv $venv -> $new"

# -- 3. a failing re-install while it runs: nothing changes ---------------------------------
pid="$(prop MainPID)"
if install /bundle-broken; then fail "install.sh accepted a broken wheel"; fi
grep -q "error: pip could not install" "$WORK/install.log" || fail "no pip error line"
[ "$(prop ActiveState)" = active ] && [ "$(prop MainPID)" = "$pid" ] \
    || fail "the failed re-install touched the running service"
[ "$(in_ct readlink /opt/edge-fer/venv)" = "$new" ] \
    && [ "$(in_ct ls /opt/edge-fer | tr '\n' ' ')" = "install-check.jsonl model venv $new " ] \
    || fail "the failed re-install left files behind: $(in_ct ls /opt/edge-fer | tr '\n' ' ')"
log "a failing re-install (broken wheel) left the running service and its files as they were"

# -- 4. systemctl stop: a clean exit -----------------------------------------------------------
in_ct systemctl stop edge-fer.service
[ "$(prop Result)/$(prop ExecMainStatus)" = success/0 ] \
    || fail "stop: result $(prop Result), exit status $(prop ExecMainStatus)"
in_ct tail -1 /var/log/edge-fer/emotions.jsonl | grep -q '"type": *"summary"' \
    || fail "no summary record at the end of the log after stop"
log "stopped: exit status 0, summary written"

# -- 5. re-install while stopped: it stays stopped ------------------------------------------
install /bundle || { cat "$WORK/install.log"; fail "the re-install failed"; }
[ "$(prop ActiveState)" = inactive ] || fail "a re-install started a stopped service"
log "re-installed while stopped: still stopped"
log "passed in $((SECONDS - START)) s"
