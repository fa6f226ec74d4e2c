#!/usr/bin/env bash
# Install edge-fer from this bundle (made by `edge-fer bundle` on a workstation):
#   bash install.sh [--prefix /opt/edge-fer] [--no-service] [--target KEY]
# makes a venv under PREFIX, installs edge-fer with the runtime the model needs (offline when
# the bundle carries wheels/), copies the model (and profile) under PREFIX, runs `edge-fer run`
# on the clip it carries to prove the install, then (unless --no-service) installs and
# enables the systemd unit, restarting it if it was running. Every check that can fail runs
# before anything is written; a failure later removes what this run made and leaves an
# earlier install as it was. Exit status: 0 ok, 1 the check or the restart failed, 2 bad
# input (arguments, this machine, the bundle).
set -euo pipefail

BUNDLE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX=/opt/edge-fer
SERVICE=1
TARGET=""
UNIT_DIR="${EDGE_FER_UNIT_DIR:-/etc/systemd/system}"
ETC_DIR="${EDGE_FER_ETC_DIR:-/etc/edge-fer}"

die() { echo "install.sh: error: $1" >&2; exit "${2:-2}"; }
say() { echo "install.sh: $1"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a folder"; PREFIX="$2"; shift 2 ;;
        --prefix=*) PREFIX="${1#*=}"; shift ;;
        --no-service) SERVICE=0; shift ;;
        --target) [ $# -ge 2 ] || die "--target needs a key"; TARGET="$2"; shift 2 ;;
        --target=*) TARGET="${1#*=}"; shift ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1' (use --prefix DIR, --no-service, --target KEY)" ;;
    esac
done
case "$PREFIX" in /*) ;; *) PREFIX="$(pwd)/$PREFIX" ;; esac

# -- checks: nothing is written before all of these pass ------------------------------------
[ -f "$BUNDLE/bundle.json" ] || die "$BUNDLE: no bundle.json (not a bundle from edge-fer bundle)"
command -v python3 >/dev/null 2>&1 \
    || die "python3 not found: sudo apt install python3 python3-venv python3-numpy"
MACHINE="$(uname -m)"
PYVER="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
CODENAME="$( (. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || true)"
# bundle.json read once, by python3 (no jq on a device): shell assignments, or ERROR=...
eval "$(python3 - "$BUNDLE/bundle.json" "$MACHINE" "$CODENAME" "$TARGET" <<'EOF'
import json, shlex, sys
path, machine, codename, target = sys.argv[1:5]
d = json.load(open(path))
targets = d["targets"]
out = {}
if not target:
    # The first bundled target for this machine; the one for this Debian release if any.
    mine = [k for k, t in targets.items() if t["machine"] == machine]
    best = [k for k in mine if codename and k.startswith(codename + "-")]
    target = (best or [k for k in mine if "-" not in k] or mine or [""])[0]
if not target:
    machines = ", ".join(sorted({t["machine"] for t in targets.values()}))
    out["ERROR"] = (f"this bundle is for {machines}, not {machine}: on the workstation run "
                    f"edge-fer bundle --target KEY for this machine (see edge-fer bundle --help)")
elif targets.get(target, {}).get("machine") != machine:
    out["ERROR"] = (f"target '{target}' is not in this bundle for a {machine} machine "
                    f"(bundled: {', '.join(targets)})")
else:
    t = targets[target]
    out.update(TARGET=target, EXTRA=d["extra"], WHEEL=d["wheel"], PROFILE_FILE=d["profile"] or "",
               SITE=str(t["system_site_packages"]), WANT_PY=t["python"],
               RUNTIME_WHEEL={"tflite": "ai_edge_litert", "tflite-runtime": "tflite_runtime",
                              "openvino": "openvino"}[d["extra"]])
print("\n".join(f"{k}={shlex.quote(v)}" for k, v in out.items()))
EOF
)"
[ -z "${ERROR:-}" ] || die "$ERROR"
WHEEL="$BUNDLE/$WHEEL"
CONSTRAINTS="$BUNDLE/constraints/$TARGET.txt"
WHEELS="$BUNDLE/wheels/$TARGET"
# Runtimes with no wheel for this machine or Python on PyPI: pip would fail after minutes.
case "$EXTRA/$MACHINE" in
    tflite/armv7l) die "ai-edge-litert has no wheel for 32-bit ARM (armv7l): on the workstation run edge-fer bundle --target bookworm-armhf --extra tflite-runtime, or install 64-bit Raspberry Pi OS" ;;
    openvino/armv7l) die "OpenVINO has no wheel for 32-bit ARM (armv7l): on the workstation run edge-fer bundle --target bookworm-armhf --extra tflite-runtime" ;;
esac
if [ "$EXTRA" = tflite-runtime ] && [ "${PYVER#3.}" -gt 11 ]; then
    die "tflite-runtime has no wheel for Python $PYVER (its last release stops at 3.11): on the workstation run edge-fer bundle --extra tflite (ai-edge-litert)"
fi
python3 -c 'import venv, ensurepip' 2>/dev/null \
    || die "python3 cannot make a virtual environment here: sudo apt install python3-venv"
if [ -d "$WHEELS" ]; then
    [ "$PYVER" = "$WANT_PY" ] || die "the wheels in $WHEELS are for Python $WANT_PY, this python3 is $PYVER: rebuild the bundle for this machine, or without --with-wheels (pip then downloads)"
    compgen -G "$WHEELS/${RUNTIME_WHEEL}-*.whl" >/dev/null \
        || die "no $RUNTIME_WHEEL wheel for $MACHINE in $WHEELS: rebuild the bundle with --with-wheels --target $TARGET"
fi
if [ "$SERVICE" = 1 ]; then
    [ "$(id -u)" = 0 ] || die "installing the service needs root: sudo bash $0 ..., or add --no-service"
    command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ] \
        || die "no running systemd here to install the service into: add --no-service"
fi
if [ -e "$PREFIX/venv" ] && ! [ -x "$PREFIX/venv/bin/python" ]; then
    die "$PREFIX/venv exists but is not a virtual environment: remove it or choose another --prefix"
fi
RUNNING=0  # the service is running now: restarted on the new install at the end
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ] \
        && systemctl is-active --quiet edge-fer.service; then
    RUNNING=1
fi

# -- install: undo what this run made if any step fails -------------------------------------
# PREFIX/venv is a link to venv-a or venv-b: the new venv is made in the other one and the
# link moves only once the new install has passed its check, so a failed upgrade leaves the
# running service and its venv untouched (a venv cannot be moved once made: its scripts name
# their python by path).
MADE=()
WORK="$(mktemp -d)"
cleanup() {
    local status=$?
    if [ $status -ne 0 ] && [ ${#MADE[@]} -gt 0 ]; then
        for path in "${MADE[@]}"; do rm -rf "$path"; done
        echo "install.sh: stopped; removed what this run had made (${#MADE[@]} paths)" >&2
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
[ -e "$PREFIX" ] || MADE+=("$PREFIX")
mkdir -p "$PREFIX"
OLD="$(readlink "$PREFIX/venv" 2>/dev/null || true)"
case "$OLD" in venv-a) NEW=venv-b ;; *) NEW=venv-a ;; esac
VENV="$PREFIX/$NEW"
rm -rf "$VENV"
say "making $VENV (python3 $PYVER$([ "$SITE" = True ] && echo ', with the system site-packages'))"
MADE+=("$VENV")
if [ "$SITE" = True ]; then python3 -m venv --system-site-packages "$VENV"
else python3 -m venv "$VENV"; fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check
     --constraint "$CONSTRAINTS")
if [ -d "$WHEELS" ]; then PIP+=(--no-index --find-links "$WHEELS"); fi
say "installing $(basename "$WHEEL") [$EXTRA]$([ -d "$WHEELS" ] && echo ' from the bundled wheels (offline)')"
if ! PIP_CONSTRAINT= "${PIP[@]}" "$WHEEL[$EXTRA]"; then
    die "pip could not install edge-fer[$EXTRA] (see above); nothing else was changed" 2
fi
# What a device never runs: pip and setuptools (`PREFIX/venv/bin/python -m ensurepip` brings
# pip back), test suites, and LiteRT's GPU (WebGPU) and NPU parts, as edge-fer runs LiteRT on
# the CPU. The default model's x86-64 venv: 335 -> 263 MiB (276 MB).
SITE_PACKAGES="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
"$VENV/bin/python" -m pip uninstall --quiet --yes pip setuptools wheel >/dev/null 2>&1 || true
find "$SITE_PACKAGES" -mindepth 2 -type d -name tests -prune -exec rm -rf {} +
rm -rf "$SITE_PACKAGES"/ai_edge_litert/{libLiteRtWebGpuAccelerator.so,vendors,tools/apply_plugin_main}

MODEL_DIR="$PREFIX/model"
rm -rf "$MODEL_DIR.new" && mkdir -p "$MODEL_DIR.new" && MADE+=("$MODEL_DIR.new")
cp "$BUNDLE"/model/* "$MODEL_DIR.new/"
PROFILE=""
if [ -n "$PROFILE_FILE" ]; then
    PROFILE="$PREFIX/profile.json"; cp "$BUNDLE/profile.json" "$PROFILE.new"; MADE+=("$PROFILE.new")
fi

# -- prove the install: the model through the installed runtime on real faces ---------------
CHECK_LOG="$PREFIX/install-check.jsonl"
rm -f "$CHECK_LOG"  # edge-fer appends: only this run's records count
say "checking: edge-fer run on $(basename "$BUNDLE/check.avi") with the new venv and model"
if ! "$VENV/bin/edge-fer" run --source "$BUNDLE/check.avi" --model "$MODEL_DIR.new" \
        ${PROFILE:+--profile "$PROFILE.new"} --log "$CHECK_LOG" --give-up-after 10; then
    die "the check run failed (see above): the install in $PREFIX is not usable" 1
fi
FACES=$(grep -c '"type": *"face"' "$CHECK_LOG" || true)
[ "${FACES:-0}" -gt 0 ] || die "the check run found no faces in the clip ($CHECK_LOG)" 1
say "check passed: $FACES face records, e.g. $(grep -m1 -o '"label": *"[a-z]*"' "$CHECK_LOG")"

# -- the service's files, verified before they replace anything ------------------------------
if [ "$SERVICE" = 1 ]; then
    sed "s#/opt/edge-fer/venv/bin#$PREFIX/venv/bin#g" "$BUNDLE/systemd/edge-fer.service" \
        > "$WORK/edge-fer.service"
    if command -v systemd-analyze >/dev/null 2>&1; then
        systemd-analyze verify "$WORK/edge-fer.service" \
            || die "systemd-analyze rejects the bundle's edge-fer.service (see above): nothing was changed"
    fi
    mkdir -p "$ETC_DIR"
    ENV_FILE="$ETC_DIR/edge-fer.env"
    if [ -e "$ENV_FILE" ]; then
        ENV_FILE="$ETC_DIR/edge-fer.env.new"
        say "keeping your $ETC_DIR/edge-fer.env; the bundle's settings are in $ENV_FILE"
    fi
    { cat "$BUNDLE/systemd/edge-fer.env"
      echo
      echo "# Set by install.sh from the bundle:"
      echo "EDGE_FER_MODEL=$MODEL_DIR"
      [ -n "$PROFILE" ] && echo "EDGE_FER_PROFILE=$PROFILE"
    } > "$ENV_FILE"
    MADE+=("$ENV_FILE")
fi

# -- switch to the new install: from here on nothing is undone ------------------------------
MADE=()
ln -sfn "$NEW" "$PREFIX/venv.link"
if [ -d "$PREFIX/venv" ] && ! [ -L "$PREFIX/venv" ]; then
    mv "$PREFIX/venv" "$PREFIX/venv-old"  # a venv made in place by an older install.sh
    OLD=venv-old
fi
mv -T "$PREFIX/venv.link" "$PREFIX/venv"
rm -rf "$MODEL_DIR.old"
if [ -e "$MODEL_DIR" ]; then mv "$MODEL_DIR" "$MODEL_DIR.old"; fi
mv "$MODEL_DIR.new" "$MODEL_DIR" && rm -rf "$MODEL_DIR.old"
if [ -n "$PROFILE" ]; then mv "$PROFILE.new" "$PROFILE"; fi
if [ "$SERVICE" = 1 ]; then
    install -m 0644 "$WORK/edge-fer.service" "$UNIT_DIR/edge-fer.service"
    systemctl daemon-reload
    systemctl enable --quiet edge-fer.service
    if [ "$RUNNING" = 1 ]; then
        say "restarting edge-fer.service on the new install"
        systemctl restart edge-fer.service \
            || die "edge-fer.service did not start again on the new install: journalctl -u edge-fer -n 30" 1
    else
        say "service installed and enabled: set EDGE_FER_SOURCE in $ENV_FILE, then sudo systemctl start edge-fer"
    fi
fi
# The previous venv goes unless a service still runs from it (installed with --no-service).
if [ -n "$OLD" ] && [ "$OLD" != "$NEW" ]; then
    if [ "$RUNNING" = 1 ] && [ "$SERVICE" = 0 ]; then
        say "edge-fer.service still runs the previous install: sudo systemctl restart edge-fer"
    else
        rm -rf "${PREFIX:?}/$OLD"
    fi
fi
say "done: $PREFIX/venv/bin/edge-fer ($(du -sm "$PREFIX/venv/" | cut -f1) MiB venv), model in $MODEL_DIR"
