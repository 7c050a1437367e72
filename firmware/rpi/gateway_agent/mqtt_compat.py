"""One face over paho-mqtt 1.6 (Raspberry Pi OS / Debian bookworm) and paho-mqtt 2.x.

2.x needs a callback API version as first constructor argument and passes reason-code objects and
properties to the callbacks; 1.6 has neither. The agent only needs the connect/disconnect result as
an int and the message id of a finished publish, so the callbacks are taken as *args here.
"""

from __future__ import annotations

import ssl
from typing import Any, Callable, Optional

import paho.mqtt.client as mqtt

PAHO_VERSION = getattr(__import__("paho.mqtt", fromlist=["__version__"]), "__version__", "unknown")
HAS_V2_API = hasattr(mqtt, "CallbackAPIVersion")


def _int_code(rc: Any) -> int:
    # 2.x ReasonCode has .value; 1.6 passes a plain int.
    value = getattr(rc, "value", rc)
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def connack_text(code: int) -> str:
    try:
        return str(mqtt.connack_string(code))
    except Exception:  # noqa: BLE001 - only for a log line
        return f"code {code}"


def make_client(client_id: str) -> "mqtt.Client":
    if HAS_V2_API:
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    return mqtt.Client(client_id=client_id, clean_session=True)


def make_tls_context(ca: str, cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile=cert, keyfile=key)
    return ctx


def set_callbacks(
    client: "mqtt.Client",
    on_connect: Callable[[int], None],
    on_disconnect: Callable[[int], None],
    on_message: Callable[[str, bytes, bool], None],
    on_connect_fail: Callable[[], None],
    on_publish: Callable[[int], None],
) -> None:
    # 1.6: (client, userdata, flags, rc)                 2.x: (client, userdata, flags, reason_code, properties)
    client.on_connect = lambda *a: on_connect(_int_code(a[3]))
    # 1.6: (client, userdata, rc)                        2.x: (client, userdata, flags, reason_code, properties)
    client.on_disconnect = lambda *a: on_disconnect(_int_code(a[3] if len(a) >= 5 else a[2]))
    # both: (client, userdata, message)
    client.on_message = lambda *a: on_message(a[2].topic, a[2].payload, bool(a[2].retain))
    # both: (client, userdata)
    client.on_connect_fail = lambda *a: on_connect_fail()
    # 1.6: (client, userdata, mid)                       2.x: (client, userdata, mid, reason_code, properties)
    client.on_publish = lambda *a: on_publish(int(a[2]))


def publish(client: "mqtt.Client", topic: str, payload: str, qos: int = 1, retain: bool = False) -> Optional[Any]:
    """The message info (mid, wait_for_publish), or None when paho refused the message outright."""
    info = client.publish(topic, payload, qos=qos, retain=retain)
    if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
        return None
    return info


def wait_published(info: Any, timeout: float) -> bool:
    try:
        info.wait_for_publish(timeout)
    except (ValueError, RuntimeError):
        return False
    return bool(info.is_published())
