#!/bin/sh
# Read-only facts about a (Raspberry Pi) host, one `key=value` per line, no root needed.
# The station sends this over SSH on stdin: `sh -s -- PREFIX PYTHON SERVICE_MANAGER`.
PREFIX=${1:-/}
PYTHON=${2:-/usr/bin/python3}
SM=${3:-systemd}
P=${PREFIX%/}

kv() { printf '%s=%s\n' "$1" "$(printf '%s' "$2" | tr -d '\000\r' | tr '\n' ' ' | sed 's/ *$//')"; }

kv probe_version 1
kv model "$(tr -d '\000' </proc/device-tree/model 2>/dev/null)"
kv hostname "$(hostname 2>/dev/null || cat /etc/hostname 2>/dev/null)"
kv arch "$(uname -m)"
kv kernel "$(uname -r)"
kv os "$(. /etc/os-release 2>/dev/null && printf '%s' "${PRETTY_NAME:-$NAME}")"

# Primary interface: the one carrying the default route, else the usual Pi names.
iface=$(ip -o route show default 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n 1)
if [ -z "$iface" ]; then
  for i in eth0 end0 wlan0; do [ -e "/sys/class/net/$i" ] && { iface=$i; break; }; done
fi
kv interface "$iface"
kv mac "$( [ -n "$iface" ] && cat "/sys/class/net/$iface/address" 2>/dev/null)"
kv ipv4 "$( [ -n "$iface" ] && ip -o -4 addr show dev "$iface" 2>/dev/null | sed -n 's/.* inet \([0-9.]*\).*/\1/p' | head -n 1)"

kv python "$("$PYTHON" --version 2>&1 | sed -n 's/^Python //p')"
kv paho_mqtt "$("$PYTHON" -c 'import paho.mqtt as m; print(m.__version__)' 2>/dev/null)"
kv pymodbus "$("$PYTHON" -c 'import pymodbus as m; print(m.__version__)' 2>/dev/null)"
kv pyserial "$("$PYTHON" -c 'import serial as m; print(m.__version__)' 2>/dev/null)"
kv openssl "$(openssl version 2>/dev/null)"

kv uid "$(id -u)"
kv user "$(id -un)"
if [ "$(id -u)" = 0 ]; then
  kv sudo root
elif command -v sudo >/dev/null 2>&1; then
  if sudo -n true 2>/dev/null; then kv sudo nopasswd; else kv sudo password; fi
else
  kv sudo none
fi
kv systemd "$( [ -d /run/systemd/system ] && echo yes || echo no)"

kv agent_bundle "$(cat "$P/opt/gateway-iot/.bundle-sha256" 2>/dev/null)"
kv identity "$(cat "$P/etc/gateway-iot/identity.json" 2>/dev/null)"
if [ "$SM" = systemd ]; then
  kv service "$(systemctl is-active gateway-mqtt.service 2>/dev/null)"
else
  pid=$(cat "$P/run/gateway-iot/agent.pid" 2>/dev/null)
  if [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q "$P/opt/gateway-iot/mqtt_client.py"; then
    kv service active
  else
    kv service inactive
  fi
fi
