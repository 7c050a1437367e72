"""Zero-touch onboarding of the Pi (docs/zero-touch.md §7.2): the agent's mode while it has no identity.

    key + CSR ─▶ [nonce + birth signature] ─▶ POST bootstrap/ ─▶ show the code ─▶ poll ⟲ ─▶ 200: install
        ▲                                                                          │
        └──────────── 410 expired / rejected, 404: request and key dropped ◀────────┘

The key (certs/bootstrap.key, 0600) is made here with openssl BEFORE the request is sent and the request
id is kept in state_dir/bootstrap.json, so a restart resumes the same request (or finds it again with the
same key). Poll timestamps follow the server's clock: server_time of the answer (after a restart: the Date
header of GET /health) plus the seconds counted since. Installing: broker.json, client.key, ca.crt, and
client.crt LAST (its presence is what "has an identity" means), each atomically with its mode; only then
are bootstrap.key and bootstrap.json removed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import random
import threading
import time
from typing import Any, Dict, Optional, Tuple

from . import AGENT_VERSION
from . import certs as C
from . import code_display
from .config import AgentConfig, BootstrapSettings
from .server_api import Answer, ServerApi, Transport

log = logging.getLogger("gateway.bootstrap")

KEY = "bootstrap.key"
STATE = "bootstrap.json"
BROKER = "broker.json"


class BootstrapError(RuntimeError):
    pass


def primary_interface() -> str:
    """The interface of the default route, else the first of eth0, end0, wlan0 that exists."""
    try:
        with open("/proc/net/route", "r", encoding="ascii") as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if len(parts) > 3 and parts[1] == "00000000" and int(parts[3], 16) & 2:
                    return parts[0]
    except OSError:
        pass
    for name in ("eth0", "end0", "wlan0"):
        if os.path.exists(f"/sys/class/net/{name}/address"):
            return name
    raise BootstrapError("no network interface found: set bootstrap.interface in config.json")


def interface_mac(name: str) -> str:
    try:
        with open(f"/sys/class/net/{name}/address", "r", encoding="ascii") as f:
            mac = f.read().strip().lower()
    except OSError as e:
        raise BootstrapError(f"cannot read the MAC of interface {name}: {e.strerror}") from e
    if not C.MAC_RE.match(mac) or mac == "00:00:00:00:00:00" or int(mac[:2], 16) & 1:
        raise BootstrapError(f"interface {name} has no usable MAC ({mac!r}); set bootstrap.interface")
    return mac


def device_model(configured: Optional[str]) -> Optional[str]:
    if configured:
        return configured
    try:
        with open("/proc/device-tree/model", "rb") as f:
            text = f.read().rstrip(b"\0").decode("ascii", "replace").strip()
    except OSError:
        return None
    text = "".join(c for c in text if 0x20 <= ord(c) <= 0x7E)[:64]
    return text or None


def broker_from_state(state_dir: str) -> Optional[Dict[str, Any]]:
    """{mqtt_broker, mqtt_port, codigo} written at the end of onboarding, or None."""
    try:
        with open(os.path.join(state_dir, BROKER), "r", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("mqtt_broker"), str) or not isinstance(data.get("mqtt_port"), int):
        return None
    return data


def needed(cfg: AgentConfig) -> bool:
    return cfg.bootstrap is not None and not os.path.exists(os.path.join(cfg.certs_dir, C.CERT))


def drop_leftovers(cfg: AgentConfig) -> None:
    """An identity is installed: a bootstrap cut short after client.crt leaves its key and state behind."""
    for path in (os.path.join(cfg.certs_dir, KEY), os.path.join(cfg.state_dir, STATE)):
        if os.path.exists(path):
            os.unlink(path)
            log.info("removed %s (onboarding finished)", path)


class Refused(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.error)
        self.answer = answer


class Bootstrapper:
    def __init__(self, cfg: AgentConfig, stop: threading.Event) -> None:
        assert cfg.bootstrap is not None
        self.cfg = cfg
        self.b: BootstrapSettings = cfg.bootstrap
        self.stop = stop
        self.openssl = cfg.openssl
        self.key_path = os.path.join(cfg.certs_dir, KEY)
        self.state_path = os.path.join(cfg.state_dir, STATE)
        try:
            self.api = ServerApi(self.b.server_url, self.b.ca_file)
        except ValueError as e:
            raise BootstrapError(f"bootstrap: {e}") from e
        self.mac = interface_mac(self.b.interface or primary_interface())
        self.model = device_model(self.b.model)
        self.attested = self.b.birth_cert_file is not None
        self.failures = 0
        self.time_base: Optional[Tuple[float, float]] = None  # (server Unix time, monotonic) at one moment
        self.state: Dict[str, Any] = {}
        self.fingerprint = ""
        self.last_shown = 0.0

    # ---------------------------------------------------------------- the loop
    def run(self) -> bool:
        """Until the identity is installed (True) or the agent is asked to stop (False)."""
        os.makedirs(self.cfg.certs_dir, mode=0o700, exist_ok=True)
        os.makedirs(self.cfg.state_dir, mode=0o700, exist_ok=True)
        log.info("no certificate in %s: onboarding through %s as %s (%s path)", self.cfg.certs_dir, self.b.server_url, self.mac,
                 "attested" if self.attested else "open")
        self.state = self._load_state()
        if self.state:
            log.info("resuming request %s", self.state["bootstrap_id"])
            self.fingerprint = self._fingerprint()
        while not self.stop.is_set():
            try:
                if not self.state:
                    self._request()
                    self._show()
                    if self.state.get("status") == "pending":
                        self._sleep(self.state["poll_interval"])
                    continue
                if self.time_base is None:
                    self._sync_time()
                if time.monotonic() - self.last_shown >= 60:
                    self._show(first=self.last_shown == 0)
                if self._poll():
                    return True
            except Transport as e:
                self._failed(e.code, e.message, self._backoff(10, 600))
            except Refused as e:
                a = e.answer
                if a.code == "nonce_invalid":  # used or expired meanwhile: a new one at once
                    self._failed(a.code, a.error, min(1 + self.failures, 30))
                    self.failures += 1
                elif a.status in (429, 503):
                    self._failed(a.code, a.error, min(a.retry_after or 5, 3600))
                else:
                    self._failed(a.code, a.error, self._backoff(60, 3600))
            except (C.CertError, BootstrapError, OSError) as e:
                self._failed("local", str(e), self._backoff(60, 3600))
        return False

    def _sleep(self, seconds: float) -> None:
        self.stop.wait(max(0.0, seconds))

    def _backoff(self, base: int, cap: int) -> int:
        d = min(cap, base * (2 ** min(self.failures, 16)))
        self.failures += 1
        return max(1, int(d - random.uniform(0, d / 4)))

    def _failed(self, code: str, message: str, wait_s: int) -> None:
        log.warning("bootstrap: %s: %s (again in %d s)", code, message, wait_s)
        self._sleep(wait_s)

    # ---------------------------------------------------------------- request
    def _request(self) -> None:
        if not os.path.exists(self.key_path):
            # Kept before the server hears of it: after a restart the same key finds its request again.
            C.make_ec_key(self.openssl, self.key_path)
        csr = C.make_csr(self.openssl, self.key_path, self.mac)
        self.fingerprint = self._fingerprint()
        body: Dict[str, Any] = {"mac_address": self.mac, "csr_pem": csr, "firmware_version": (self.cfg.firmware_version or AGENT_VERSION)[:32]}
        if self.model:
            body["model"] = self.model
        if self.attested:
            body.update(self._attestation(csr))
        a = self.api.call("POST", "/gateways/bootstrap/", body)
        if a.status not in (200, 201):
            raise Refused(a)
        b = a.body
        bid = b.get("bootstrap_id")
        if not isinstance(bid, str) or len(bid) != 32 or any(c not in "0123456789abcdef" for c in bid):
            raise Transport("bad_response", "the bootstrap answer has no request id")
        if isinstance(b.get("server_time"), (int, float)):
            self.time_base = (float(b["server_time"]), time.monotonic())
        if b.get("key_fingerprint") != self.fingerprint:
            log.warning("the server's key fingerprint differs from this key's")
        poll = b.get("poll_interval")
        self.state = {
            "bootstrap_id": bid,
            "status": b.get("status"),
            "path": b.get("path") if b.get("path") in ("open", "attested") else ("attested" if self.attested else "open"),
            "activation_code": b.get("activation_code") if isinstance(b.get("activation_code"), str) else None,
            "qr_payload": b.get("qr_payload") if isinstance(b.get("qr_payload"), str) else None,
            "expires_at": b.get("expires_at") if isinstance(b.get("expires_at"), str) else None,
            "poll_interval": min(max(int(poll), 1), 300) if isinstance(poll, int) else 5,
        }
        C.atomic_write(self.state_path, json.dumps(self.state), 0o600)
        self.failures = 0
        log.info("request %s sent (%s path)", bid, self.state["path"])

    def _attestation(self, csr_pem: str) -> Dict[str, str]:
        assert self.b.birth_cert_file and self.b.birth_key_file
        with open(self.b.birth_cert_file, "r", encoding="ascii") as f:
            birth_cert = f.read()
        a = self.api.call("POST", "/gateways/bootstrap/nonce/", {"mac_address": self.mac})
        if a.status != 201 or not isinstance(a.body.get("nonce"), str):
            raise Refused(a)
        nonce = a.body["nonce"]
        csr_sha = hashlib.sha256(C.pem_to_der(csr_pem)).hexdigest()
        message = f"tds-bootstrap-attest/1\n{self.mac}\n{nonce}\n{csr_sha}".encode("ascii")
        signature = C.sign_sha256(self.openssl, self.b.birth_key_file, message)
        return {"birth_certificate_pem": birth_cert, "nonce": nonce, "attestation_signature": base64.b64encode(signature).decode("ascii")}

    def _fingerprint(self) -> str:
        return hashlib.sha256(C.spki_der(self.openssl, self.key_path)).hexdigest()

    def _load_state(self) -> Dict[str, Any]:
        if not os.path.exists(self.key_path):
            return {}
        try:
            with open(self.state_path, "r", encoding="utf-8") as f:
                s = json.load(f)
        except (OSError, json.JSONDecodeError):
            return {}
        if not isinstance(s, dict) or not isinstance(s.get("bootstrap_id"), str) or not isinstance(s.get("poll_interval"), int):
            return {}
        return s

    def _restart(self, why: str) -> None:
        log.warning("bootstrap: %s; starting again with a new key", why)
        for path in (self.state_path, self.key_path):
            if os.path.exists(path):
                os.unlink(path)
        self.state = {}

    # ---------------------------------------------------------------- show
    def _show(self, first: bool = True) -> None:
        self.last_shown = time.monotonic()
        s = self.state
        fields = [("MAC", self.mac)]
        if s.get("activation_code"):
            fields.append(("activation code", s["activation_code"]))
        fields += [("key fingerprint", code_display.grouped_fingerprint(self.fingerprint)), ("request", s["bootstrap_id"])]
        if s.get("expires_at"):
            fields.append(("expires", s["expires_at"]))
        if s.get("activation_code"):
            heading = "TDS gateway waiting to be claimed: give the installer this code and the MAC (or the QR)"
            qr = s.get("qr_payload")
        else:
            heading = "TDS gateway waiting to be claimed: scan the QR on its label (bench-born identity)"
            qr = None
        code_display.show(self.b.console, heading, fields, qr, to_log=first)

    # ---------------------------------------------------------------- poll
    def _server_now(self) -> int:
        assert self.time_base is not None
        server, mono = self.time_base
        return int(server + (time.monotonic() - mono))

    def _sync_time(self) -> None:
        a = self.api.call("GET", "/health")
        if a.date is None:
            raise Transport("bad_response", "the server's answer has no Date header")
        self.time_base = (a.date, time.monotonic())

    def _poll(self) -> bool:
        bid = self.state["bootstrap_id"]
        ts = str(self._server_now())
        signature = C.sign_sha256(self.openssl, self.key_path, f"tds-bootstrap-poll/1\n{bid}\n{ts}".encode("ascii"))
        a = self.api.call("GET", f"/gateways/bootstrap/{bid}/", headers={"X-TDS-Timestamp": ts, "X-TDS-Signature": base64.b64encode(signature).decode("ascii")})
        cap = self.b.max_poll_s
        if a.status == 202:
            self.failures = 0
            wait = min(a.retry_after or self.state["poll_interval"], cap)
            log.debug("pending; next poll in %d s", wait)
            self._sleep(wait)
            return False
        if a.status == 429 and a.code == "slow_down":
            wait = min(a.retry_after or self.state["poll_interval"], cap)
            log.info("slow_down: next poll in %d s", wait)
            self._sleep(wait)
            return False
        if a.status == 410:
            details = a.body.get("details") if isinstance(a.body.get("details"), dict) else {}
            reason = details.get("reason") if isinstance(details.get("reason"), str) else ""
            self._restart(f"request {a.code}" + (f" ({reason})" if reason else ""))
            self._sleep(10 if a.code == "rejected" else 1)
            return False
        if a.status == 401 and a.code == "timestamp_invalid":
            self.time_base = None
            self._sleep(min(1 + self.failures, 30))
            self.failures += 1
            return False
        if a.status == 404 or (a.status == 401 and a.code == "signature_invalid"):
            self._restart(a.error)
            self._sleep(self._backoff(10, 3600))
            return False
        if a.status != 200:
            raise Refused(a)
        self._install(a.body)
        return True

    def _install(self, b: Dict[str, Any]) -> None:
        if "private_key_pem" in b:
            raise BootstrapError("the server sent a private key; refused (this Pi makes its own)")
        cert, ca, broker, port = b.get("certificate_pem"), b.get("ca_pem"), b.get("mqtt_broker"), b.get("mqtt_port")
        if not isinstance(cert, str) or not isinstance(ca, str) or not isinstance(broker, str) or not broker or len(broker) > 253:
            raise BootstrapError("the certificate answer lacks certificate_pem, ca_pem or mqtt_broker")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise BootstrapError("the certificate answer has no mqtt_port 1-65535")
        info = C.cert_info_pem(self.openssl, cert)
        if info.cn != self.mac:
            raise BootstrapError(f"the certificate's CN is {info.cn!r}, not this Pi's MAC {self.mac}")
        if C.public_key_of_key(self.openssl, self.key_path) != C.public_key_of_cert_pem(self.openssl, cert):
            raise BootstrapError("the certificate is not for the key this Pi made")
        certs = self.cfg.certs_dir
        ca_new = os.path.join(certs, C.CA + ".new")
        C.atomic_write(ca_new, ca, 0o644)
        C.verify_chain(self.openssl, ca_new, cert)
        codigo = b.get("codigo") if isinstance(b.get("codigo"), str) else None
        C.atomic_write(os.path.join(self.cfg.state_dir, BROKER), json.dumps({"mqtt_broker": broker, "mqtt_port": port, "codigo": codigo}), 0o644)
        with open(self.key_path, "r", encoding="ascii") as f:
            C.atomic_write(os.path.join(certs, C.KEY), f.read(), 0o600)
        os.replace(ca_new, os.path.join(certs, C.CA))
        C.atomic_write(os.path.join(certs, C.CERT), cert, 0o644)  # last: from here on the Pi has an identity
        C.fsync_dir(certs)
        drop_leftovers(self.cfg)
        log.info("certificate %s installed (request %s); broker %s:%d", info.serial_hex, self.state["bootstrap_id"], broker, port)
        if self.b.console:
            code_display.write_console(self.b.console, f"\nTDS gateway {self.mac}: claimed, certificate installed; connecting to {broker}:{port}\n")

