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

# One interpreter start for every Python fact (each start costs a Pi a noticeable fraction of a
# second): versions, and the Debian packages the agent needs that are missing (install.sh check's
# rules, so the station can skip that check when nothing is missing).
py=$("$PYTHON" - 2>/dev/null <<'EOF_PY'
import sys
def version(name):
    try:
        return str(getattr(__import__(name, fromlist=["_"]), "__version__", "?"))
    except Exception:
        return ""
def imports(name):
    try:
        __import__(name)
        return True
    except Exception:
        return False
missing = []
if not imports("paho.mqtt.client"): missing.append("python3-paho-mqtt")
if not imports("serial"): missing.append("python3-serial")
if not imports("pymodbus"): missing.append("python3-pymodbus")
elif not imports("pymodbus.client"): missing.append("python3-serial-asyncio")
print("python=%d.%d.%d" % sys.version_info[:3])
print("paho_mqtt=" + version("paho.mqtt"))
print("pymodbus=" + version("pymodbus"))
print("pyserial=" + version("serial"))
print("python_missing=" + " ".join(missing))
EOF_PY
)
for k in python paho_mqtt pymodbus pyserial; do
  kv "$k" "$(printf '%s\n' "$py" | sed -n "s/^$k=//p")"
done
kv openssl "$(openssl version 2>/dev/null)"
missing=$(printf '%s\n' "$py" | sed -n 's/^python_missing=//p')
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
# Known only when Python answered: then every package install.sh check looks for is accounted for.
[ -n "$py" ] && kv missing_packages "$missing" && kv packages_checked yes

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
