#!/bin/sh
# TDS gateway agent installer for Raspberry Pi OS / Debian (POSIX sh; dash is /bin/sh there).
#
#   install.sh [install]  [--prefix DIR] [--service-manager systemd|none] [--user NAME] [--python PATH]
#                         [--from DIR] [--agent-from DIR] [--bundle-hash HEX] [--no-restart] [--deps-checked]
#                         (--deps-checked: the caller has just run `check`'s tests (the station's probe does))
#   install.sh keygen     --cn MAC [--prefix DIR]          new key (0600) + CSR made here; prints the CSR
#   install.sh rollback   [--prefix DIR] [--service-manager M] [--user NAME]   previous identity back
#   install.sh finalize   [--prefix DIR]                   drop the backups once the new identity is online
#   install.sh abort      [--prefix DIR]                   drop staged files of an install that never committed
#   install.sh service start|stop|restart|status [--prefix DIR] [--service-manager M] [--user NAME]
#   install.sh check      [--python PATH]                  are the Debian packages there?
#
# Layout under the prefix (the seed's): etc/gateway-iot/certs/{ca.crt,client.crt 644; client.key 600;
# dir 700; owner = the service user}, etc/gateway-iot/config.json, opt/gateway-iot/ (agent),
# var/lib/gateway-iot/ (telemetry buffer), etc/systemd/system/gateway-mqtt.service.
#
# Idempotent: running it again with the same inputs gives the same result. New files are staged next
# to their final place with their final owners and modes; the commit phase is renames only and ignores
# hang-ups, so a dropped SSH connection leaves either the old installation or the new one, never a mix.
# The previous files are kept in etc/gateway-iot/.prev until `finalize` (or put back by `rollback`).
# One POSIX script, longer than most files, because the station uploads and runs this single file on
# the Pi (no other tool can be assumed there); each subcommand is a function below.
#
# Zero-touch images: `install` without client.crt is allowed when config.json has a `bootstrap` section;
# --from may then hold bootstrap-ca.crt (-> etc/gateway-iot/, 644) and birth.crt + birth.key (-> certs/,
# 644/600, the bench-born identity). The agent onboards itself at its first start (docs/pi.md).
set -u
umask 022

SELF_DIR=$(cd "$(dirname "$0")" && pwd)
CMD=install
case "${1:-}" in
  install|keygen|rollback|finalize|abort|service|check) CMD=$1; shift ;;
esac
ACTION=
if [ "$CMD" = service ]; then ACTION=${1:-}; [ $# -gt 0 ] && shift; fi

PREFIX=/
SM=systemd
SVC_USER=gateway-iot
PYTHON=/usr/bin/python3
FROM=$SELF_DIR
AGENT_FROM=
BUNDLE_HASH=
CN=
RESTART=yes
DEPS_CHECKED=no

say() { printf '%s\n' "$*" 2>/dev/null || true; }
die() { code=$1; shift; printf 'ERROR: %s\n' "$*" >&2 2>/dev/null || true; exit "$code"; }
need_arg() { [ $# -ge 2 ] || die 2 "$1 needs a value"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) need_arg "$@"; PREFIX=$2; shift 2 ;;
    --service-manager) need_arg "$@"; SM=$2; shift 2 ;;
    --user) need_arg "$@"; SVC_USER=$2; shift 2 ;;
    --python) need_arg "$@"; PYTHON=$2; shift 2 ;;
    --from) need_arg "$@"; FROM=$2; shift 2 ;;
    --agent-from) need_arg "$@"; AGENT_FROM=$2; shift 2 ;;
    --bundle-hash) need_arg "$@"; BUNDLE_HASH=$2; shift 2 ;;
    --cn) need_arg "$@"; CN=$2; shift 2 ;;
    --no-restart) RESTART=no; shift ;;
    --deps-checked) DEPS_CHECKED=yes; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) die 2 "unknown option $1 (see --help)" ;;
  esac
done

case "$SM" in systemd|none) ;; *) die 2 "--service-manager must be systemd or none" ;; esac
case "$PREFIX" in /*) ;; *) die 2 "--prefix must be an absolute path" ;; esac
if [ "$SM" = systemd ] && [ "$PREFIX" != / ] && { [ "$CMD" = install ] || [ "$CMD" = rollback ] || [ "$CMD" = service ]; }; then
  die 2 "--service-manager systemd needs --prefix / (systemd only reads units from the real /etc)"
fi
printf '%s' "$SVC_USER" | grep -Eq '^[a-z_][a-z0-9_-]{0,31}$' || die 2 "--user must be a plain user name"
case "$BUNDLE_HASH" in ''|*[!0-9a-f]*) [ -z "$BUNDLE_HASH" ] || die 2 "--bundle-hash must be lower-case hex" ;; esac

# The unit needs an absolute interpreter path: resolve a bare name (python3) on PATH.
case "$PYTHON" in
  /*) ;;
  *) PYTHON_ABS=$(command -v "$PYTHON" 2>/dev/null) && PYTHON=$PYTHON_ABS ;;
esac

P=${PREFIX%/}
ETC=$P/etc/gateway-iot
CERTS=$ETC/certs
STAGE=$ETC/.staging
PREV=$ETC/.prev
OPT=$P/opt/gateway-iot
OPT_STAGE=$P/opt/.gateway-iot.staging
OPT_PREV=$P/opt/.gateway-iot.prev
VAR=$P/var/lib/gateway-iot
RUN=$P/run/gateway-iot
LOGDIR=$P/var/log/gateway-iot
UNIT=$P/etc/systemd/system/gateway-mqtt.service
PIDFILE=$RUN/agent.pid

IS_ROOT=no
[ "$(id -u)" = 0 ] && IS_ROOT=yes

is_mac() { printf '%s' "$1" | grep -Eq '^[0-9a-f]{2}(:[0-9a-f]{2}){5}$'; }

check_deps() {
  missing=
  [ -x "$PYTHON" ] || die 3 "Python 3 not found at $PYTHON: sudo apt-get install -y python3"
  "$PYTHON" -c 'import paho.mqtt.client' 2>/dev/null || missing="$missing python3-paho-mqtt"
  "$PYTHON" -c 'import serial' 2>/dev/null || missing="$missing python3-serial"
  if ! "$PYTHON" -c 'import pymodbus' 2>/dev/null; then
    missing="$missing python3-pymodbus"
  elif ! "$PYTHON" -c 'import pymodbus.client' 2>/dev/null; then
    # Debian's pymodbus 3.0 imports serial_asyncio even for the synchronous client (only a Recommends).
    missing="$missing python3-serial-asyncio"
  fi
  # The text QR of zero-touch onboarding (check_deps bootstrap: an image that onboards itself).
  if [ "${1:-}" = bootstrap ]; then "$PYTHON" -c 'import qrcode' 2>/dev/null || missing="$missing python3-qrcode"; fi
  command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
  [ -z "$missing" ] || die 3 "missing Debian packages:$missing (sudo apt-get install -y$missing)"
}

ensure_user() {
  if ! id -u "$SVC_USER" >/dev/null 2>&1; then
    [ "$IS_ROOT" = yes ] || die 4 "user $SVC_USER does not exist and creating it needs root (use sudo)"
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$SVC_USER" \
      || die 4 "could not create user $SVC_USER"
    say "created system user $SVC_USER"
  fi
  if [ "$IS_ROOT" = yes ] && getent group dialout >/dev/null 2>&1 && ! id -nG "$SVC_USER" | tr ' ' '\n' | grep -qx dialout; then
    usermod -aG dialout "$SVC_USER" || die 4 "could not add $SVC_USER to dialout"
  fi
  if [ "$IS_ROOT" = no ] && [ "$(id -un)" != "$SVC_USER" ]; then
    die 4 "files must belong to $SVC_USER: run as root (sudo) or as $SVC_USER"
  fi
  SVC_GROUP=$(id -gn "$SVC_USER")
}

# own USER:GROUP MODE PATH... (chown only as root; otherwise the files are already the caller's)
own() {
  o=$1; m=$2; shift 2
  if [ "$IS_ROOT" = yes ]; then chown "$o" "$@" || die 5 "chown $o $*"; fi
  chmod "$m" "$@" || die 5 "chmod $m $*"
}

mkdir_owned() { # mkdir_owned OWNER MODE DIR
  [ -d "$3" ] || mkdir -p "$3" || die 5 "cannot create $3"
  own "$1" "$2" "$3"
}

# fsync of these files and folders (coreutils sync FILE...); a full sync where that is not supported.
fsync_paths() {
  sync -- "$@" 2>/dev/null || sync
}

has_bootstrap() { "$PYTHON" -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1])).get("bootstrap") else 1)' "$1" 2>/dev/null; }
cert_cn() { openssl x509 -noout -subject -nameopt RFC2253 -in "$1" | sed -n 's/^subject=.*CN=\([^,]*\).*$/\1/p'; }
cert_serial() { openssl x509 -noout -serial -in "$1" | sed 's/^serial=//'; }

# ---- service control -------------------------------------------------------------------------
agent_pid() {
  [ -f "$PIDFILE" ] || return 1
  pid=$(cat "$PIDFILE" 2>/dev/null)
  case "$pid" in ''|*[!0-9]*) return 1 ;; esac
  # Only our agent: a recycled PID must never be signalled.
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q "$OPT/mqtt_client.py" || return 1
  state=$(sed -n 's/^[0-9]* ([^)]*) \(.\).*/\1/p' "/proc/$pid/stat" 2>/dev/null)
  [ "$state" != Z ] || return 1
  printf '%s' "$pid"
}

svc_stop() {
  if [ "$SM" = systemd ]; then
    systemctl stop gateway-mqtt.service 2>/dev/null || true
    return 0
  fi
  pid=$(agent_pid) || { rm -f "$PIDFILE"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  # agent_pid, not kill -0: an exited agent whose parent is gone may linger as a zombie.
  i=0
  while agent_pid >/dev/null && [ $i -lt 150 ]; do sleep 0.05; i=$((i + 1)); done
  agent_pid >/dev/null && kill -KILL "$pid" 2>/dev/null
  rm -f "$PIDFILE"
  say "agent (pid $pid) stopped"
}

svc_start() {
  if [ "$SM" = systemd ]; then
    systemctl daemon-reload || die 6 "systemctl daemon-reload failed"
    systemctl enable gateway-mqtt.service >/dev/null 2>&1 || die 6 "systemctl enable gateway-mqtt.service failed"
    systemctl restart gateway-mqtt.service || die 6 "systemctl restart gateway-mqtt.service failed (journalctl -u gateway-mqtt)"
    say "service gateway-mqtt restarted"
    return 0
  fi
  if pid=$(agent_pid); then say "agent already running (pid $pid)"; return 0; fi
  mkdir_owned "$(id -un):$(id -gn)" 755 "$RUN"
  mkdir_owned "$SVC_USER:$SVC_GROUP" 750 "$LOGDIR"
  switch=
  if [ "$IS_ROOT" = yes ] && [ "$SVC_USER" != root ]; then
    switch="setpriv --reuid=$SVC_USER --regid=$SVC_GROUP --init-groups --"
  fi
  # No service manager (tests, containers): a detached session that outlives this SSH connection.
  # sh writes its own PID, then execs (setpriv execs too), so the PID file names the agent itself.
  # shellcheck disable=SC2086
  setsid sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$PIDFILE" $switch \
    "$PYTHON" "$OPT/mqtt_client.py" --config "$ETC/config.json" </dev/null >>"$LOGDIR/agent.log" 2>&1 &
  i=0
  while [ $i -lt 100 ]; do
    if pid=$(agent_pid); then say "agent started (pid $pid, log $LOGDIR/agent.log)"; return 0; fi
    sleep 0.05; i=$((i + 1))
  done
  die 6 "the agent did not start: $(tail -n 3 "$LOGDIR/agent.log" 2>/dev/null | tr '\n' ' ')(log: $LOGDIR/agent.log)"
}

svc_disable() {
  if [ "$SM" = systemd ]; then systemctl disable --now gateway-mqtt.service >/dev/null 2>&1 || true; else svc_stop; fi
}

svc_status() {
  if [ "$SM" = systemd ]; then
    st=$(systemctl is-active gateway-mqtt.service 2>/dev/null); say "service=${st:-unknown}"
  elif pid=$(agent_pid); then say "service=active pid=$pid"
  else say "service=inactive"; fi
}

# ---- sub-commands ----------------------------------------------------------------------------
do_keygen() {
  is_mac "$CN" || die 2 "--cn must be the device MAC, aa:bb:cc:dd:ee:ff"
  command -v openssl >/dev/null 2>&1 || die 3 "missing Debian package: openssl"
  [ -d "$ETC" ] || { mkdir -p "$ETC" && chmod 755 "$ETC"; } || die 5 "cannot create $ETC"
  rm -rf "$STAGE"
  mkdir -m 700 "$STAGE" || die 5 "cannot create $STAGE"
  # The key is born here, mode 0600, and never leaves this machine.
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$STAGE/client.key" 2>/dev/null) \
    || die 5 "openssl could not make the key"
  openssl req -new -sha256 -key "$STAGE/client.key" -subj "/CN=$CN" -out "$STAGE/client.csr" \
    || die 5 "openssl could not make the CSR"
  cat "$STAGE/client.csr"
}

link_prev() { # link_prev SRC NAME: keep the current file in .prev (hard link; copy across filesystems)
  [ -e "$1" ] || return 0
  ln -f "$1" "$PREV/$2" 2>/dev/null || cp -p "$1" "$PREV/$2" || die 5 "cannot back up $1"
}

render_unit() {
  sed -e "s|@USER@|$SVC_USER|g" -e "s|@GROUP@|$SVC_GROUP|g" -e "s|@PYTHON@|$PYTHON|g" \
    -e "s|@AGENT_DIR@|/opt/gateway-iot|g" -e "s|@CONFIG@|/etc/gateway-iot/config.json|g" \
    -e "s|@CERTS_DIR@|/etc/gateway-iot/certs|g" -e "s|@STATE_DIR@|/var/lib/gateway-iot|g" \
    "$1"
}

# The agent runs unprivileged with NoNewPrivileges, so its default reboot command (`systemctl reboot`)
# is authorised through polkit for the service user only (polkit >= 0.106 JavaScript rules).
install_polkit_rule() {
  [ "$SM" = systemd ] && [ "$IS_ROOT" = yes ] && [ -d /etc/polkit-1/rules.d ] || return 0
  rule=/etc/polkit-1/rules.d/60-gateway-iot-reboot.rules
  cat >"$rule.new" <<EOF_RULE
// Written by the TDS gateway agent installer: lets $SVC_USER run "systemctl reboot" (the reboot command).
polkit.addRule(function (action, subject) {
  if ((action.id == "org.freedesktop.login1.reboot" ||
       action.id == "org.freedesktop.login1.reboot-multiple-sessions") && subject.user == "$SVC_USER") {
    return polkit.Result.YES;
  }
});
EOF_RULE
  chmod 644 "$rule.new" && mv -f "$rule.new" "$rule"
}

# The switch itself: previous files kept in .prev (hard links), new ones renamed into place.
commit_install() {
  rm -rf "$PREV" "$OPT_PREV"
  mkdir -m 700 "$PREV" || die 5 "cannot create $PREV"
  [ -e "$CERTS/client.key" ] || : >"$PREV/.fresh"
  link_prev "$CERTS/client.key" client.key
  link_prev "$CERTS/client.crt" client.crt
  link_prev "$CERTS/ca.crt" ca.crt
  link_prev "$ETC/config.json" config.json
  link_prev "$ETC/identity.json" identity.json
  link_prev "$UNIT" gateway-mqtt.service
  for f in bootstrap-ca.crt birth.crt birth.key; do
    [ -e "$STAGE/$f.new" ] || continue
    case $f in bootstrap-ca.crt) dst=$ETC/$f ;; *) dst=$CERTS/$f ;; esac
    link_prev "$dst" "$f"
    mv -f "$STAGE/$f.new" "$dst" || die 5 "could not install $f"
  done
  if [ -n "$NEW_CERT" ]; then
    mv -f "$STAGE/client.key" "$CERTS/client.key" \
      && mv -f "$STAGE/client.crt.new" "$CERTS/client.crt" \
      && mv -f "$STAGE/ca.crt.new" "$CERTS/ca.crt" || die 5 "could not move the certificates into place"
  fi
  [ -z "$CFG_SRC" ] || mv -f "$STAGE/config.json.new" "$ETC/config.json" || die 5 "could not install config.json"
  mkdir -p "$(dirname "$UNIT")" && mv -f "$STAGE/gateway-mqtt.service.new" "$UNIT" || die 5 "could not install the unit"
  if [ -d "$OPT" ]; then mv "$OPT" "$OPT_PREV" || die 5 "could not move the old agent aside"; fi
  mv "$OPT_STAGE" "$OPT" || die 5 "could not install the agent"
  mac=; serial=
  if [ -f "$CERTS/client.crt" ]; then mac=$(cert_cn "$CERTS/client.crt"); serial=$(cert_serial "$CERTS/client.crt"); fi
  printf '{"mac":"%s","serial_number":"%s","bundle_sha256":"%s","installed_at":"%s"}\n' \
    "$mac" "$serial" "$BUNDLE_HASH" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$ETC/identity.json.new" \
    && chmod 644 "$ETC/identity.json.new" && mv -f "$ETC/identity.json.new" "$ETC/identity.json"
  fsync_paths "$CERTS" "$ETC" "$(dirname "$UNIT")" "$P/opt"
  say "installed mac=$mac serial=$serial"
}

do_install() {
  [ "$DEPS_CHECKED" = yes ] || check_deps
  ensure_user
  [ -n "$AGENT_FROM" ] || { if [ -f "$FROM/mqtt_client.py" ]; then AGENT_FROM=$FROM; else AGENT_FROM=$OPT; fi; }
  [ -f "$AGENT_FROM/mqtt_client.py" ] && [ -d "$AGENT_FROM/gateway_agent" ] \
    || die 4 "no agent files in $AGENT_FROM (upload them, or pass --agent-from)"

  # ---- validate the new identity, if one is given
  NEW_CERT=
  if [ -f "$FROM/client.crt" ]; then
    NEW_CERT=$FROM/client.crt
    [ -f "$FROM/ca.crt" ] || die 4 "$FROM/client.crt without $FROM/ca.crt"
    KEY_SRC=$STAGE/client.key
    [ -f "$KEY_SRC" ] || KEY_SRC=$FROM/client.key
    # Re-running with the certificate already installed (idempotent): its installed key is the key.
    [ -f "$KEY_SRC" ] || KEY_SRC=$CERTS/client.key
    [ -f "$KEY_SRC" ] || die 4 "no private key: run 'install.sh keygen' first (the key is made on this machine)"
    openssl verify -CAfile "$FROM/ca.crt" "$NEW_CERT" >/dev/null 2>&1 || die 4 "client.crt is not signed by ca.crt"
    kp=$(openssl pkey -in "$KEY_SRC" -pubout 2>/dev/null) || die 4 "cannot read the private key"
    cp_=$(openssl x509 -noout -pubkey -in "$NEW_CERT") || die 4 "cannot read client.crt"
    [ "$kp" = "$cp_" ] || die 4 "client.crt does not belong to the key made on this machine"
    NEW_CN=$(cert_cn "$NEW_CERT")
    is_mac "$NEW_CN" || die 4 "client.crt CN '$NEW_CN' is not a device MAC"
  fi
  CFG_SRC=$FROM/config.json
  [ -f "$CFG_SRC" ] || CFG_SRC=
  [ -n "$CFG_SRC" ] || [ -f "$ETC/config.json" ] || die 4 "no config.json in $FROM and none installed"
  if [ -n "$CFG_SRC" ]; then
    "$PYTHON" -c 'import json,sys; json.load(open(sys.argv[1]))' "$CFG_SRC" 2>/dev/null || die 4 "$CFG_SRC is not valid JSON"
  fi
  if [ -z "$NEW_CERT" ] && [ ! -f "$CERTS/client.crt" ]; then
    has_bootstrap "${CFG_SRC:-$ETC/config.json}" \
      || die 4 "no certificate: give client.crt + ca.crt in $FROM (or a config.json with a bootstrap section)"
    check_deps bootstrap
  fi
  if [ -f "$FROM/birth.crt" ] || [ -f "$FROM/birth.key" ]; then
    [ -f "$FROM/birth.crt" ] && [ -f "$FROM/birth.key" ] || die 4 "birth.crt and birth.key go together"
    kp=$(openssl pkey -in "$FROM/birth.key" -pubout 2>/dev/null) || die 4 "cannot read birth.key"
    [ "$kp" = "$(openssl x509 -noout -pubkey -in "$FROM/birth.crt" 2>/dev/null)" ] || die 4 "birth.crt is not for birth.key"
  fi

  # ---- stage everything next to its final place, with final owners and modes
  ROOT_OWNER="$(id -un):$(id -gn)"
  mkdir_owned "$ROOT_OWNER" 755 "$ETC"
  mkdir_owned "$SVC_USER:$SVC_GROUP" 700 "$CERTS"
  mkdir_owned "$SVC_USER:$SVC_GROUP" 700 "$VAR"
  [ -d "$P/opt" ] || mkdir -p "$P/opt" || die 5 "cannot create $P/opt"
  [ -d "$STAGE" ] || mkdir -m 700 "$STAGE" || die 5 "cannot create $STAGE"
  if [ -n "$NEW_CERT" ]; then
    [ "$KEY_SRC" = "$STAGE/client.key" ] || (umask 077 && cp "$KEY_SRC" "$STAGE/client.key") || die 5 "cannot stage the key"
    cp "$NEW_CERT" "$STAGE/client.crt.new" && cp "$FROM/ca.crt" "$STAGE/ca.crt.new" || die 5 "cannot stage certificates"
    own "$SVC_USER:$SVC_GROUP" 600 "$STAGE/client.key"
    own "$SVC_USER:$SVC_GROUP" 644 "$STAGE/client.crt.new" "$STAGE/ca.crt.new"
  fi
  if [ -f "$FROM/bootstrap-ca.crt" ]; then
    cp "$FROM/bootstrap-ca.crt" "$STAGE/bootstrap-ca.crt.new" && own "$ROOT_OWNER" 644 "$STAGE/bootstrap-ca.crt.new" \
      || die 5 "cannot stage bootstrap-ca.crt"
  fi
  if [ -f "$FROM/birth.crt" ]; then
    (umask 077 && cp "$FROM/birth.key" "$STAGE/birth.key.new") && cp "$FROM/birth.crt" "$STAGE/birth.crt.new" \
      || die 5 "cannot stage the birth identity"
    own "$SVC_USER:$SVC_GROUP" 600 "$STAGE/birth.key.new"
    own "$SVC_USER:$SVC_GROUP" 644 "$STAGE/birth.crt.new"
  fi
  if [ -n "$CFG_SRC" ]; then
    cp "$CFG_SRC" "$STAGE/config.json.new" || die 5 "cannot stage config.json"
    own "$ROOT_OWNER" 644 "$STAGE/config.json.new"
  fi
  render_unit "$AGENT_FROM/gateway-mqtt.service.in" >"$STAGE/gateway-mqtt.service.new" || die 5 "cannot render the unit"
  own "$ROOT_OWNER" 644 "$STAGE/gateway-mqtt.service.new"
  rm -rf "$OPT_STAGE"
  mkdir -p "$OPT_STAGE" || die 5 "cannot create $OPT_STAGE"
  for f in mqtt_client.py install.sh probe.sh gateway-mqtt.service.in config.example.json; do
    [ -f "$AGENT_FROM/$f" ] && { cp "$AGENT_FROM/$f" "$OPT_STAGE/$f" || die 5 "cannot stage $f"; }
  done
  mkdir -p "$OPT_STAGE/gateway_agent" && cp -p "$AGENT_FROM"/gateway_agent/*.py "$OPT_STAGE/gateway_agent/" \
    || die 5 "cannot stage the agent package"
  # Compiled ahead: the unit forbids writes to /opt (ProtectSystem=strict). The installed agent's
  # bytecode is still valid for its own files (copied with their times), so only new files compile.
  if [ -d "$AGENT_FROM/gateway_agent/__pycache__" ]; then
    cp -Rp "$AGENT_FROM/gateway_agent/__pycache__" "$OPT_STAGE/gateway_agent/" || die 5 "cannot stage the agent's bytecode"
  else
    "$PYTHON" -m compileall -q "$OPT_STAGE/gateway_agent" >/dev/null 2>&1 || true
  fi
  if [ -z "$BUNDLE_HASH" ]; then
    BUNDLE_HASH=$(cd "$OPT_STAGE" && find . -name '*.py' -o -name '*.sh' -o -name '*.in' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-64)
  fi
  printf '%s\n' "$BUNDLE_HASH" >"$OPT_STAGE/.bundle-sha256"
  if [ "$IS_ROOT" = yes ]; then chown -R root:root "$OPT_STAGE"; fi
  chmod -R u=rwX,go=rX "$OPT_STAGE"

  # Staged data on disk before anything is switched.
  fsync_paths "$STAGE"/* "$STAGE" "$OPT_STAGE" "$OPT_STAGE"/gateway_agent/*
  # ---- commit: renames only, in a subshell that ignores hang-ups (an SSH cut must not stop it
  # half-way). The agent is started outside it: ignored signals would be inherited by the agent.
  ( trap '' HUP INT TERM PIPE; commit_install ) || exit $?
  MAC=; SERIAL=
  if [ -f "$CERTS/client.crt" ]; then MAC=$(cert_cn "$CERTS/client.crt"); SERIAL=$(cert_serial "$CERTS/client.crt"); fi

  install_polkit_rule
  if [ "$RESTART" = yes ]; then
    svc_stop
    svc_start
  fi
  say "INSTALL-OK mac=$MAC serial=$SERIAL"
}

do_rollback() {
  [ -d "$PREV" ] || die 4 "nothing to roll back ($PREV does not exist)"
  if id -u "$SVC_USER" >/dev/null 2>&1; then SVC_GROUP=$(id -gn "$SVC_USER"); else SVC_GROUP=$SVC_USER; fi
  svc_stop
  if [ -e "$PREV/.fresh" ]; then
    # There was no identity before this installation: leave none behind.
    if [ "$SM" = systemd ]; then svc_disable; fi
    ( trap '' HUP INT TERM PIPE
      rm -f "$CERTS/client.key" "$CERTS/client.crt" "$CERTS/ca.crt" "$ETC/config.json" "$ETC/identity.json" "$UNIT" \
        "$ETC/bootstrap-ca.crt" "$CERTS/birth.crt" "$CERTS/birth.key"
      if [ -d "$OPT_PREV" ]; then rm -rf "$OPT"; mv "$OPT_PREV" "$OPT"; fi
      rm -rf "$PREV" "$STAGE"
      fsync_paths "$CERTS" "$ETC" ) || exit $?
    say "ROLLBACK-OK (no previous identity; agent stopped)"
    return 0
  fi
  ( trap '' HUP INT TERM PIPE
    for f in client.key client.crt ca.crt birth.crt birth.key; do
      if [ -e "$PREV/$f" ]; then mv -f "$PREV/$f" "$CERTS/$f" || die 5 "could not restore $f"; fi
    done
    if [ -e "$PREV/bootstrap-ca.crt" ]; then mv -f "$PREV/bootstrap-ca.crt" "$ETC/bootstrap-ca.crt"; fi
    if [ -e "$PREV/config.json" ]; then mv -f "$PREV/config.json" "$ETC/config.json"; fi
    if [ -e "$PREV/identity.json" ]; then mv -f "$PREV/identity.json" "$ETC/identity.json"; fi
    if [ -e "$PREV/gateway-mqtt.service" ]; then mv -f "$PREV/gateway-mqtt.service" "$UNIT"; fi
    if [ -d "$OPT_PREV" ]; then rm -rf "$OPT" && mv "$OPT_PREV" "$OPT" || die 5 "could not restore the agent"; fi
    rm -rf "$PREV" "$STAGE"
    fsync_paths "$CERTS" "$ETC" "$(dirname "$UNIT")" "$P/opt" ) || exit $?
  svc_start
  say "ROLLBACK-OK serial=$(cert_serial "$CERTS/client.crt")"
}

do_abort() {
  rm -rf "$STAGE" "$OPT_STAGE"
  say "ABORT-OK"
}

do_finalize() {
  rm -rf "$PREV" "$OPT_PREV" "$STAGE"
  fsync_paths "$ETC" "$P/opt"
  say "FINALIZE-OK"
}

case "$CMD" in
  keygen) do_keygen ;;
  install) do_install ;;
  rollback) do_rollback ;;
  finalize) do_finalize ;;
  abort) do_abort ;;
  check) check_deps; say "CHECK-OK" ;;
  service)
    if id -u "$SVC_USER" >/dev/null 2>&1; then SVC_GROUP=$(id -gn "$SVC_USER"); else SVC_GROUP=$SVC_USER; fi
    case "$ACTION" in
      start) svc_start ;;
      stop) svc_stop ;;
      restart) svc_stop; svc_start ;;
      status) svc_status ;;
      *) die 2 "service needs start|stop|restart|status" ;;
    esac ;;
esac
