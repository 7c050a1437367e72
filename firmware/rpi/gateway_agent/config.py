"""config.json: read once at start, validated field by field so a mistake names the field to fix."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, List, Optional

DEFAULT_CONFIG_PATH = "/etc/gateway-iot/config.json"


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class MqttSettings:
    host: Optional[str]  # None: from state_dir/broker.json, written by zero-touch onboarding
    port: int = 8883
    keepalive: int = 30
    reconnect_min_s: int = 1
    reconnect_max_s: int = 30


@dataclass(frozen=True)
class SlaveSettings:
    slave: int
    register: int
    unit: str
    scale: float = 1.0
    interval: float = 60.0
    function: str = "holding"  # holding (FC3) | input (FC4)
    count: int = 1  # 1 = 16-bit, 2 = 32-bit (high word first)
    signed: bool = False


@dataclass(frozen=True)
class ModbusSettings:
    port: str
    baudrate: int = 9600
    parity: str = "N"
    bytesize: int = 8
    stopbits: int = 1
    timeout_s: float = 1.0
    slaves: List[SlaveSettings] = field(default_factory=list)


@dataclass(frozen=True)
class BootstrapSettings:
    """Zero-touch onboarding (docs/zero-touch.md §7.2): used while certs_dir has no client.crt."""

    server_url: str  # https://…/api/v1
    ca_file: str  # the CA pinned for the server's HTTPS certificate
    interface: Optional[str] = None  # its MAC names the device; default: the default-route interface
    model: Optional[str] = None  # default: /proc/device-tree/model
    birth_cert_file: Optional[str] = None  # both birth files: the attested path
    birth_key_file: Optional[str] = None
    max_poll_s: int = 60
    console: Optional[str] = "/dev/tty1"  # where the code and QR are shown besides the log (None: log only)


@dataclass(frozen=True)
class AgentConfig:
    mqtt: MqttSettings
    certs_dir: str = "/etc/gateway-iot/certs"
    state_dir: str = "/var/lib/gateway-iot"
    firmware_version: Optional[str] = None
    modbus: Optional[ModbusSettings] = None
    buffer_max_messages: int = 10000
    reboot_command: List[str] = field(default_factory=lambda: ["systemctl", "reboot"])
    renew_before_days: int = 30
    openssl: str = "openssl"
    bootstrap: Optional[BootstrapSettings] = None


def _obj(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a JSON object")
    return value


def _int(d: dict, key: str, where: str, default: Optional[int] = None, lo: int = 0, hi: int = 2**31) -> int:
    v = d.get(key, default)
    if v is None:
        raise ConfigError(f"{where}.{key} is required")
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ConfigError(f"{where}.{key} must be an integer between {lo} and {hi}, got {v!r}")
    return v


def _num(d: dict, key: str, where: str, default: float, lo: float, hi: float) -> float:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ConfigError(f"{where}.{key} must be a number between {lo} and {hi}, got {v!r}")
    return float(v)


def _str(d: dict, key: str, where: str, default: Optional[str] = None) -> str:
    v = d.get(key, default)
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{where}.{key} must be a non-empty string")
    return v


def _slave(raw: Any, where: str) -> SlaveSettings:
    d = _obj(raw, where)
    function = d.get("function", "holding")
    if function not in ("holding", "input"):
        raise ConfigError(f"{where}.function must be 'holding' or 'input'")
    count = _int(d, "count", where, 1, 1, 2)
    signed = d.get("signed", False)
    if not isinstance(signed, bool):
        raise ConfigError(f"{where}.signed must be true or false")
    return SlaveSettings(
        slave=_int(d, "slave", where, None, 1, 247),
        register=_int(d, "register", where, None, 0, 65535),
        unit=_str(d, "unit", where),
        scale=_num(d, "scale", where, 1.0, -1e9, 1e9),
        interval=_num(d, "interval", where, 60.0, 0.1, 86400.0),
        function=function,
        count=count,
        signed=signed,
    )


def _modbus(raw: Any) -> ModbusSettings:
    d = _obj(raw, "modbus")
    parity = d.get("parity", "N")
    if parity not in ("N", "E", "O"):
        raise ConfigError("modbus.parity must be 'N', 'E' or 'O'")
    slaves_raw = d.get("slaves", [])
    if not isinstance(slaves_raw, list):
        raise ConfigError("modbus.slaves must be a list")
    return ModbusSettings(
        port=_str(d, "port", "modbus"),
        baudrate=_int(d, "baudrate", "modbus", 9600, 300, 4_000_000),
        parity=parity,
        bytesize=_int(d, "bytesize", "modbus", 8, 5, 8),
        stopbits=_int(d, "stopbits", "modbus", 1, 1, 2),
        timeout_s=_num(d, "timeout_s", "modbus", 1.0, 0.05, 30.0),
        slaves=[_slave(s, f"modbus.slaves[{i}]") for i, s in enumerate(slaves_raw)],
    )


def _opt_str(d: dict, key: str, where: str, max_len: int = 4096) -> Optional[str]:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or not v or len(v) > max_len:
        raise ConfigError(f"{where}.{key} must be a non-empty string (at most {max_len} characters) or null")
    return v


def _bootstrap(raw: Any) -> BootstrapSettings:
    d = _obj(raw, "bootstrap")
    url = _str(d, "server_url", "bootstrap")
    if not url.startswith("https://") or len(url) > 253 or any(c.isspace() for c in url):
        raise ConfigError("bootstrap.server_url must be an https:// URL such as https://provision.example:8443/api/v1")
    model = _opt_str(d, "model", "bootstrap", 64)
    if model is not None and not all(0x20 <= ord(c) <= 0x7E for c in model):
        raise ConfigError("bootstrap.model must be printable ASCII")
    interface = _opt_str(d, "interface", "bootstrap", 15)
    if interface is not None and ("/" in interface or interface in (".", "..")):
        raise ConfigError("bootstrap.interface must be a network interface name such as eth0")
    birth_cert = _opt_str(d, "birth_cert_file", "bootstrap")
    birth_key = _opt_str(d, "birth_key_file", "bootstrap")
    if (birth_cert is None) != (birth_key is None):
        raise ConfigError("bootstrap.birth_cert_file and bootstrap.birth_key_file go together (both for the attested path, or neither)")
    console = d.get("console", "/dev/tty1")
    if console is not None and (not isinstance(console, str) or not console.startswith("/")):
        raise ConfigError("bootstrap.console must be an absolute path (e.g. /dev/tty1) or null")
    return BootstrapSettings(
        server_url=url.rstrip("/"),
        ca_file=_str(d, "ca_file", "bootstrap"),
        interface=interface,
        model=model,
        birth_cert_file=birth_cert,
        birth_key_file=birth_key,
        max_poll_s=_int(d, "max_poll_s", "bootstrap", 60, 1, 3600),
        console=console,
    )


def parse_config(data: Any) -> AgentConfig:
    d = _obj(data, "config")
    bootstrap = _bootstrap(d["bootstrap"]) if d.get("bootstrap") is not None else None
    # With a bootstrap section the broker may come from the server (state_dir/broker.json).
    m = _obj(d.get("mqtt", {} if bootstrap else None), "mqtt")
    mqtt = MqttSettings(
        host=_str(m, "host", "mqtt") if bootstrap is None or m.get("host") is not None else None,
        port=_int(m, "port", "mqtt", 8883, 1, 65535),
        keepalive=_int(m, "keepalive", "mqtt", 30, 5, 3600),
        reconnect_min_s=_int(m, "reconnect_min_s", "mqtt", 1, 1, 600),
        reconnect_max_s=_int(m, "reconnect_max_s", "mqtt", 30, 1, 3600),
    )
    paths = _obj(d.get("paths", {}), "paths")
    modbus = _modbus(d["modbus"]) if d.get("modbus") is not None else None
    buffer = _obj(d.get("buffer", {}), "buffer")
    commands = _obj(d.get("commands", {}), "commands")
    reboot = commands.get("reboot", ["systemctl", "reboot"])
    if not isinstance(reboot, list) or not reboot or not all(isinstance(a, str) and a for a in reboot):
        raise ConfigError("commands.reboot must be a non-empty list of strings (program and arguments)")
    renewal = _obj(d.get("renewal", {}), "renewal")
    fw = d.get("firmware_version")
    if fw is not None and (not isinstance(fw, str) or not fw):
        raise ConfigError("firmware_version must be a non-empty string when given")
    return AgentConfig(
        mqtt=mqtt,
        certs_dir=_str(paths, "certs_dir", "paths", "/etc/gateway-iot/certs"),
        state_dir=_str(paths, "state_dir", "paths", "/var/lib/gateway-iot"),
        firmware_version=fw,
        modbus=modbus,
        buffer_max_messages=_int(buffer, "max_messages", "buffer", 10000, 10, 10_000_000),
        reboot_command=list(reboot),
        renew_before_days=_int(renewal, "renew_before_days", "renewal", 30, 0, 3650),
        openssl=_str(d, "openssl", "config", "openssl"),
        bootstrap=bootstrap,
    )


def load_config(path: str) -> AgentConfig:
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path} is not valid JSON: {e}") from e
    return parse_config(data)
