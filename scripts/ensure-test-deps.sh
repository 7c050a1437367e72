#!/usr/bin/env bash
# Installs the Debian packages the test suite uses, only when something is missing.
# Real peers, not mocks: Mosquitto (broker), OpenSSH (the "Pi"), socat (serial pty pairs for the ESP32
# simulator), Chromium (UI E2E), openssl (independent certificate checks), g++ + libmbedtls-dev (ESP32
# firmware core on the host), Python with paho-mqtt/pymodbus/pyserial/qrcode (the Pi gateway agent), zbar-tools
# (decodes the text QR the Pi shows while it onboards itself), SoftHSM2 (a PKCS#11 token for the CA key) with
# OpenSC's pkcs11-tool reading it back, GNOME Keyring in a private D-Bus session (the Secret Service web mode
# keeps its secrets' key in), PostgreSQL 15 (the server's PostgreSQL store; tests start their own clusters as
# the postgres user; its client tools pg_dump/pg_restore back that store up).
set -euo pipefail

packages=(
  mosquitto mosquitto-clients socat openssh-server openssh-client openssl chromium
  python3 python3-paho-mqtt python3-pymodbus python3-serial python3-serial-asyncio python3-cryptography python3-requests python3-qrcode
  libmbedtls-dev libcjson-dev libmosquitto-dev doctest-dev g++ make sudo iproute2 fonts-liberation zbar-tools poppler-utils
  softhsm2 opensc
  gnome-keyring dbus-daemon dbus-bin libsecret-tools
  postgresql-15
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "[ensure-test-deps] all Debian packages present"
  exit 0
fi

echo "[ensure-test-deps] installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "[ensure-test-deps] not root and no sudo: install these packages yourself: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# The Debian packages start system services on install; the tests start their own instances on free
# loopback ports, so stop the system ones (they are not needed and would hold port 1883/22/5432).
for svc in mosquitto ssh postgresql; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $SUDO systemctl stop "$svc" || true
  fi
done
