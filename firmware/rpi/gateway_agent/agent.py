"""The agent: one MQTT session over mutual TLS, Modbus polling, buffered telemetry, commands, renewal.

Threads: paho's network thread only turns callbacks into events on a queue; everything else
(Modbus reads, the telemetry buffer, commands, certificate files) happens on the main thread, so
no state is shared between threads except that queue.

Longer than most modules because the session's handlers (commands, renewal, telemetry, presence) share
the one state the main thread owns; configuration, certificates, the buffer, Modbus and onboarding are
modules of their own.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import queue
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections import OrderedDict, deque
from typing import Any, Dict, List, Optional, Tuple

from . import AGENT_VERSION
from . import certs as C
from . import mqtt_compat as M
from .buffer import TelemetryBuffer
from .config import AgentConfig, SlaveSettings

log = logging.getLogger("gateway.agent")

TOPIC_ROOT = "tds_new/devices"
INFLIGHT_WINDOW = 16  # telemetry messages handed to paho and not yet acknowledged
RENEW_CONNECT_TIMEOUT_S = 30.0
EXPIRY_CHECK_INTERVAL_S = 12 * 3600


def utc_now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Topics:
    def __init__(self, mac: str) -> None:
        base = f"{TOPIC_ROOT}/{mac}"
        self.telemetry = f"{base}/telemetry"
        self.status = f"{base}/status"
        self.logs = f"{base}/logs"
        self.commands = f"{base}/commands"
        self.csr = f"{base}/cert/csr"
        self.ack = f"{base}/cert/ack"


class Session:
    """One paho client with one certificate. A renewal replaces the whole session (paho cannot change TLS settings)."""

    def __init__(self, agent: "Agent") -> None:
        self.agent = agent
        cfg = agent.cfg
        self.connected = False
        self.client = M.make_client(agent.mac)
        self.client.tls_set_context(
            M.make_tls_context(agent.path(C.CA), agent.path(C.CERT), agent.path(C.KEY))
        )
        self.client.will_set(agent.topics.status, "offline", qos=1, retain=True)
        self.client.reconnect_delay_set(cfg.mqtt.reconnect_min_s, cfg.mqtt.reconnect_max_s)
        self._last_failure: Optional[str] = None
        self._last_failure_at = 0.0
        M.set_callbacks(
            self.client,
            on_connect=self._on_connect,
            on_disconnect=lambda rc: agent.events.put(("disconnect", self, rc)),
            on_message=lambda topic, payload, retain: agent.events.put(("message", self, topic, payload, retain)),
            on_publish=lambda mid: agent.events.put(("published", self, mid)),
            on_connect_fail=self._on_connect_fail,
        )

    def start(self) -> None:
        cfg = self.agent.cfg.mqtt
        self.client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive)
        self.client.loop_start()

    def _on_connect(self, rc: int) -> None:
        # Runs on paho's thread: subscribe and announce at once, then let the main thread know.
        if rc == 0:
            self.client.subscribe(self.agent.topics.commands, qos=1)
            self.client.publish(self.agent.topics.status, "online", qos=1, retain=True)
        self.agent.events.put(("connect", self, rc))

    def _on_connect_fail(self) -> None:
        # paho swallows the reason; find it with one TLS handshake, logged when it changes or once a minute.
        reason = self.agent.diagnose_connection()
        now = time.monotonic()
        if reason != self._last_failure or now - self._last_failure_at > 60:
            log.warning("cannot connect to %s:%d: %s", self.agent.cfg.mqtt.host, self.agent.cfg.mqtt.port, reason)
            self._last_failure, self._last_failure_at = reason, now

    def stop(self, announce_offline: bool) -> None:
        was_connected = self.connected
        if announce_offline and was_connected:
            info = M.publish(self.client, self.agent.topics.status, "offline", qos=1, retain=True)
            if info is None or not M.wait_published(info, 5.0):
                log.warning("could not confirm the 'offline' status before stopping")
        self.connected = False
        self.client.disconnect()
        if was_connected:
            self.client.loop_stop()
        # Not connected: paho's (daemon) thread may sit in its reconnect back-off for up to
        # reconnect_max_s; joining it would delay a stop or a certificate switch for nothing.


class Agent:
    def __init__(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        self.events: "queue.Queue[Tuple[Any, ...]]" = queue.Queue()
        self.started_at = time.monotonic()
        repaired = C.recover(cfg.openssl, cfg.certs_dir)
        if repaired:
            log.warning("certificates: %s", repaired)
        self.mac = C.device_mac(cfg.openssl, self.path(C.CERT))
        self.topics = Topics(self.mac)
        self.firmware_version = cfg.firmware_version or AGENT_VERSION
        os.makedirs(cfg.state_dir, mode=0o700, exist_ok=True)
        self.buffer = TelemetryBuffer(os.path.join(cfg.state_dir, "telemetry-buffer.sqlite3"), cfg.buffer_max_messages)
        # Made at the first reading, after the broker connection has started: pymodbus is slow to
        # import (a good part of a second on a Pi), and "online" should not wait for it.
        self.modbus = None
        self.session: Optional[Session] = None
        self.inflight: Dict[int, int] = {}  # paho mid -> buffer row id
        self.last_handed = 0
        self.seen_commands: "OrderedDict[str, None]" = OrderedDict()
        self.pending_logs: "deque[Dict[str, Any]]" = deque(maxlen=50)
        self.renewal: Optional[Dict[str, Any]] = None  # in-progress certificate switch
        self.stopping = False
        now = time.monotonic()
        slaves = cfg.modbus.slaves if cfg.modbus else []
        self.schedule: List[Tuple[float, SlaveSettings]] = [(now, s) for s in slaves]
        self.next_expiry_check = now

    # ---- helpers -------------------------------------------------------------------------------
    def path(self, name: str) -> str:
        return os.path.join(self.cfg.certs_dir, name)

    def serial(self) -> str:
        try:
            return C.cert_info(self.cfg.openssl, self.path(C.CERT)).serial_hex
        except C.CertError:
            return "unknown"

    def diagnose_connection(self) -> str:
        host, port = self.cfg.mqtt.host, self.cfg.mqtt.port
        try:
            ctx = M.make_tls_context(self.path(C.CA), self.path(C.CERT), self.path(C.KEY))
            with socket.create_connection((host, port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname=host) as tls:
                    tls.settimeout(2)
                    # With TLS 1.3 a rejected client certificate shows up as an alert on the first read.
                    tls.sendall(b"\xc0\x00")  # PINGREQ before CONNECT: the broker closes; an alert arrives first
                    try:
                        tls.recv(1)
                    except socket.timeout:
                        pass
            return "the TLS handshake works; the broker closed the MQTT session (see the broker log)"
        except ssl.SSLError as e:
            return f"TLS: {e.reason or e}"
        except OSError as e:
            return e.strerror or str(e)

    def publish_log(self, record: Dict[str, Any]) -> None:
        record.setdefault("timestamp", utc_now_iso())
        if self.session is not None and self.session.connected:
            M.publish(self.session.client, self.topics.logs, json.dumps(record), qos=1)
        else:
            self.pending_logs.append(record)  # sent after the next connect (the journal has it anyway)

    def _flush_logs(self) -> None:
        while self.pending_logs and self.session is not None and self.session.connected:
            M.publish(self.session.client, self.topics.logs, json.dumps(self.pending_logs.popleft()), qos=1)

    def log_event(self, event: str, cid: str, detail: str = "", ok: bool = True, **extra: Any) -> None:
        """A `logs` line in the same shape as the ESP32 firmware's: {event, id?, detail?, ...}."""
        (log.info if ok else log.warning)("%s (%s): %s", event, cid or "-", detail)
        record: Dict[str, Any] = {"event": event}
        if cid:
            record["id"] = cid
        if detail:
            record["detail"] = detail
        record.update(extra)
        self.publish_log(record)

    # ---- main loop -----------------------------------------------------------------------------
    def request_stop(self, *_: Any) -> None:
        self.events.put(("stop",))

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        log.info(
            "agent %s for %s, broker %s:%d, paho-mqtt %s, certificate serial %s, %d reading(s) buffered",
            AGENT_VERSION, self.mac, self.cfg.mqtt.host, self.cfg.mqtt.port, M.PAHO_VERSION, self.serial(),
            self.buffer.count(),
        )
        self.session = Session(self)
        self.session.start()
        while not self.stopping:
            timeout = max(0.0, self._next_wake() - time.monotonic())
            try:
                event = self.events.get(timeout=timeout)
            except queue.Empty:
                event = None
            if event is not None:
                self._handle(event)
            self._poll_due()
            self._check_renewal_deadline()
            self._check_expiry()
            self._pump()
        return self._shutdown()

    def _next_wake(self) -> float:
        wake = [self.next_expiry_check] + [due for due, _ in self.schedule]
        if self.renewal is not None:
            wake.append(self.renewal["deadline"])
        return min(wake) if wake else time.monotonic() + 3600

    def _handle(self, event: Tuple[Any, ...]) -> None:
        kind = event[0]
        if kind == "stop":
            self.stopping = True
            return
        session = event[1]
        if kind == "connect":
            self._on_connect(session, event[2])
        elif session is not self.session:
            return  # a late event from a replaced session
        elif kind == "disconnect":
            if session.connected:
                log.warning("disconnected from the broker (code %d); reconnecting", event[2])
            session.connected = False
        elif kind == "published":
            row = self.inflight.pop(event[2], None)
            if row is not None:
                self.buffer.remove(row)
        elif kind == "message":
            self._on_message(event[2], event[3], event[4])

    def _on_connect(self, session: Session, rc: int) -> None:
        if rc != 0:
            log.error("broker refused the connection: %s", M.connack_text(rc))
            return
        renewing = self.renewal is not None and self.renewal.get("session") is session
        if session is not self.session and not renewing:
            return
        session.connected = True
        log.info("connected to %s:%d as %s; status online", self.cfg.mqtt.host, self.cfg.mqtt.port, self.mac)
        if renewing:
            self._finish_renewal()
        self._flush_logs()

    def _shutdown(self) -> int:
        log.info("stopping: publishing offline")
        if self.session is not None:
            self.session.stop(announce_offline=True)
        if self.modbus is not None:
            self.modbus.close()
        self.buffer.close()
        log.info("stopped")
        return 0

    # ---- telemetry -----------------------------------------------------------------------------
    def _reader(self) -> Any:
        if self.modbus is None:
            from .modbus import ModbusReader  # imported only when configured: pymodbus is slow to import

            self.modbus = ModbusReader(self.cfg.modbus)
        return self.modbus

    def _poll_due(self) -> None:
        now = time.monotonic()
        for i, (due, slave) in enumerate(self.schedule):
            if due > now:
                continue
            value = self._reader().read(slave)
            if value is not None:
                payload = {
                    "timestamp": utc_now_iso(),
                    "valor": value,
                    "unidade": slave.unit,
                    "gateway_mac": self.mac,
                    "firmware_version": self.firmware_version,
                    "slave_id": slave.slave,
                    "register": slave.register,
                }
                self.buffer.append(self.topics.telemetry, json.dumps(payload, ensure_ascii=False))
                if self.buffer.dropped:
                    log.warning("telemetry buffer full: %d oldest reading(s) dropped so far", self.buffer.dropped)
            nxt = due + slave.interval
            self.schedule[i] = (nxt if nxt > now else now + slave.interval, slave)

    def _pump(self) -> None:
        """Hands buffered readings to paho in order, at most INFLIGHT_WINDOW unacknowledged."""
        s = self.session
        if s is None or not s.connected or self.renewal is not None:
            return
        room = INFLIGHT_WINDOW - len(self.inflight)
        if room <= 0:
            return
        for row_id, topic, payload in self.buffer.next_after(self.last_handed, room):
            info = M.publish(s.client, topic, payload, qos=1)
            if info is None:
                break
            self.inflight[int(info.mid)] = row_id
            self.last_handed = row_id

    def _reset_inflight(self) -> None:
        # Rows handed to a session that is gone are sent again by the next one (at least once, in order).
        self.inflight.clear()
        self.last_handed = 0

    # ---- commands ------------------------------------------------------------------------------
    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        if topic != self.topics.commands:
            return
        if retained:
            log.warning("ignoring a retained command (commands must not be retained: a retained reboot would loop)")
            return
        try:
            msg = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            log.warning("ignoring a command that is not JSON")
            return
        if not isinstance(msg, dict) or not isinstance(msg.get("cmd"), str) or not isinstance(msg.get("id"), str):
            log.warning("ignoring a command without string 'cmd' and 'id'")
            return
        cmd, cid = msg["cmd"], msg["id"][:100]
        key = f"{cmd}/{cid}"  # cert_renew and its cert_update share one id
        if key in self.seen_commands:
            return  # QoS 1 redelivery
        self.seen_commands[key] = None
        while len(self.seen_commands) > 100:
            self.seen_commands.popitem(last=False)
        if cmd == "ping":
            self.log_event(
                "pong", cid,
                firmware_version=self.firmware_version, cert_serial=self.serial(),
                renewal="awaiting_cert" if self._pending_renewal_id() else "idle",
                agent_version=AGENT_VERSION, uptime_s=round(time.monotonic() - self.started_at, 1),
                buffered=self.buffer.count(),
            )
        elif cmd == "reboot":
            self._reboot(cid)
        elif cmd == "cert_renew":
            self._start_renewal(cid)
        elif cmd == "cert_update":
            self._apply_update(cid, msg)
        else:
            self.log_event("command_rejected", cid, f"unknown cmd '{cmd[:40]}'", ok=False)

    def _reboot(self, cid: str) -> None:
        self.log_event("rebooting", cid)
        time.sleep(0.5)  # let the result leave before the network goes down
        try:
            p = subprocess.run(self.cfg.reboot_command, capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            self.log_event("command_rejected", cid, f"reboot command failed: {e}", ok=False)
            return
        if p.returncode != 0:
            self.log_event("command_rejected", cid, f"reboot command exited {p.returncode}: {p.stderr.strip()[:200]}", ok=False)

    # ---- certificate renewal: cert_renew → cert/csr → cert_update → cert/ack (docs/broker.md) ----
    def _renewal_state_path(self) -> str:
        return os.path.join(self.cfg.state_dir, "renewal.json")

    def _start_renewal(self, cid: str) -> None:
        try:
            csr = C.generate_key_and_csr(self.cfg.openssl, self.cfg.certs_dir, self.mac)
        except (C.CertError, OSError) as e:
            self.log_event("cert_renew_failed", cid, f"could not make a new key: {e}", ok=False)
            return
        C.atomic_write(self._renewal_state_path(), json.dumps({"id": cid, "created_at": utc_now_iso()}), 0o600)
        if self.session is not None and self.session.connected:
            M.publish(self.session.client, self.topics.csr, json.dumps({"id": cid, "csr_pem": csr}), qos=1)
        self.log_event("cert_renew_started", cid, "csr published")

    def _pending_renewal_id(self) -> Optional[str]:
        try:
            with open(self._renewal_state_path(), "r", encoding="utf-8") as f:
                v = json.load(f).get("id")
                return v if isinstance(v, str) else None
        except (OSError, ValueError, AttributeError):
            return None

    def _apply_update(self, cid: str, msg: Dict[str, Any]) -> None:
        cert_pem, ca_pem, serial = msg.get("certificate_pem"), msg.get("ca_pem"), msg.get("serial_number")
        if not isinstance(cert_pem, str) or "BEGIN CERTIFICATE" not in cert_pem:
            self.log_event("cert_update_rejected", cid, "certificate_pem missing", ok=False)
            return
        if ca_pem is not None and (not isinstance(ca_pem, str) or "BEGIN CERTIFICATE" not in ca_pem):
            self.log_event("cert_update_rejected", cid, "ca_pem is not a PEM certificate", ok=False)
            return
        pending = self._pending_renewal_id()
        if pending is not None and pending != cid:
            self.log_event("cert_update_rejected", cid, f"no renewal with this id is pending (pending: {pending})", ok=False)
            return
        try:
            info = C.cert_info_pem(self.cfg.openssl, cert_pem)
            if info.cn != self.mac:
                raise C.CertError(f"the certificate is for {info.cn[:40]}, not for this device")
            if isinstance(serial, str) and C.normalise_serial(serial) != C.normalise_serial(info.serial_hex):
                raise C.CertError("serial_number does not match the certificate")
            C.install_renewed(self.cfg.openssl, self.cfg.certs_dir, cert_pem, ca_pem)
        except (C.CertError, OSError) as e:
            self.log_event("cert_update_rejected", cid, f"certificate not installed: {e}", ok=False)
            return
        self.log_event("cert_update_received", cid, f"reconnecting with serial {info.serial_hex}")
        ack_serial = serial if isinstance(serial, str) else info.serial_hex
        self._switch_session(cid, ack_serial)

    def _switch_session(self, cid: str, ack_serial: str) -> None:
        old = self.session
        if old is not None:
            self._drain_inflight(2.0)
            old.stop(announce_offline=False)  # a clean DISCONNECT: no Last Will, status stays online
        self._reset_inflight()
        try:
            new = Session(self)
        except (ssl.SSLError, OSError) as e:
            log.error("the new certificate cannot be loaded (%s); rolling back", e)
            C.rollback(self.cfg.certs_dir)
            self.session = Session(self)
            self.session.start()
            return
        self.session = new
        self.renewal = {"id": cid, "serial": ack_serial, "session": new, "deadline": time.monotonic() + RENEW_CONNECT_TIMEOUT_S}
        new.start()

    def _drain_inflight(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.inflight and time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if event[0] == "stop":
                self.events.put(event)
                break
            self._handle(event)

    def _finish_renewal(self) -> None:
        r = self.renewal
        assert r is not None
        self.renewal = None
        C.commit(self.cfg.certs_dir)
        try:
            os.unlink(self._renewal_state_path())
        except FileNotFoundError:
            pass
        assert self.session is not None
        M.publish(self.session.client, self.topics.ack, json.dumps({"id": r["id"], "serial_number": r["serial"]}), qos=1)
        self.log_event("cert_update_installed", r["id"], f"new certificate {r['serial']} in use", serial_number=r["serial"])

    def _check_renewal_deadline(self) -> None:
        r = self.renewal
        if r is None or time.monotonic() < r["deadline"]:
            return
        self.renewal = None
        log.error("the broker did not accept the new certificate within %ds; going back to the previous one", RENEW_CONNECT_TIMEOUT_S)
        r["session"].stop(announce_offline=False)
        C.rollback(self.cfg.certs_dir)
        self._reset_inflight()
        self.session = Session(self)
        self.session.start()
        self.log_event("cert_update_rolled_back", r["id"], "broker refused the new certificate; previous certificate restored", ok=False)

    def _check_expiry(self) -> None:
        now = time.monotonic()
        if now < self.next_expiry_check:
            return
        if self.session is None or not self.session.connected:
            self.next_expiry_check = now + 60  # the CSR can only go out while connected
            return
        self.next_expiry_check = now + EXPIRY_CHECK_INTERVAL_S
        if self.cfg.renew_before_days <= 0:
            return
        try:
            near = C.expires_within(self.cfg.openssl, self.path(C.CERT), self.cfg.renew_before_days * 86400)
        except (OSError, subprocess.TimeoutExpired):
            return
        if near and self._pending_renewal_id() is None:
            log.warning("certificate expires within %d days: requesting renewal", self.cfg.renew_before_days)
            self._start_renewal(f"auto-{uuid.uuid4().hex[:12]}")
