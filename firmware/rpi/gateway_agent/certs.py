"""Certificates and keys through the openssl CLI (present on every Raspberry Pi OS image).

The private key is made here, on the Pi, and never leaves it. Files are replaced atomically
(temp name, fsync, rename, fsync of the folder); a renewal keeps the previous pair as `*.prev`
until the new one has been proven on the broker, so it can be rolled back.
"""

from __future__ import annotations

import base64
import datetime as _dt
import os
import re
import subprocess
from dataclasses import dataclass
from typing import List, Optional

MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")

KEY = "client.key"
CERT = "client.crt"
CA = "ca.crt"
PENDING_KEY = "client.key.new"  # renewal key waiting for its certificate


class CertError(RuntimeError):
    pass


@dataclass(frozen=True)
class CertInfo:
    cn: str
    serial_hex: str  # upper-case hex without separators, as openssl prints it
    not_after: _dt.datetime


def run_openssl(openssl: str, args: List[str], stdin: Optional[str] = None) -> str:
    try:
        p = subprocess.run(
            [openssl] + args,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except FileNotFoundError as e:
        raise CertError(f"openssl not found ({openssl}); install the openssl package") from e
    if p.returncode != 0:
        raise CertError(f"openssl {args[0]} failed: {p.stderr.strip()[:400]}")
    return p.stdout


def run_openssl_bytes(openssl: str, args: List[str], stdin: bytes = b"") -> bytes:
    """As run_openssl, for binary input and output (DER, signatures)."""
    try:
        p = subprocess.run([openssl] + args, input=stdin, capture_output=True, timeout=60, check=False)
    except FileNotFoundError as e:
        raise CertError(f"openssl not found ({openssl}); install the openssl package") from e
    if p.returncode != 0:
        raise CertError(f"openssl {args[0]} failed: {p.stderr.decode('utf-8', 'replace').strip()[:400]}")
    return p.stdout


def _parse_cn(subject_line: str) -> str:
    # RFC 2253 form: "subject=CN=aa:bb:cc:dd:ee:ff,O=TDS IoT,...". A MAC never needs escaping.
    value = subject_line.split("=", 1)[1] if subject_line.startswith("subject=") else subject_line
    m = re.search(r"(?:^|,)\s*CN=((?:\\.|[^,\\])*)", value)
    if not m:
        raise CertError("the certificate has no CN")
    return m.group(1).strip()


def _parse_info(text: str) -> CertInfo:
    fields = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            fields[k.strip()] = v.strip()
    if "subject" not in fields or "serial" not in fields or "notAfter" not in fields:
        raise CertError("could not read subject/serial/notAfter from the certificate")
    not_after = _dt.datetime.strptime(fields["notAfter"].replace("  ", " "), "%b %d %H:%M:%S %Y %Z")
    return CertInfo(
        cn=_parse_cn("subject=" + fields["subject"]),
        serial_hex=fields["serial"].upper(),
        not_after=not_after.replace(tzinfo=_dt.timezone.utc),
    )


_INFO_ARGS = ["x509", "-noout", "-subject", "-serial", "-enddate", "-nameopt", "RFC2253"]


def cert_info(openssl: str, path: str) -> CertInfo:
    return _parse_info(run_openssl(openssl, _INFO_ARGS + ["-in", path]))


def cert_info_pem(openssl: str, pem: str) -> CertInfo:
    return _parse_info(run_openssl(openssl, _INFO_ARGS, stdin=pem))


def device_mac(openssl: str, cert_path: str) -> str:
    """Client id and topics come from the certificate's CN, never from a network interface."""
    cn = cert_info(openssl, cert_path).cn
    if not MAC_RE.match(cn):
        raise CertError(f"certificate CN '{cn[:40]}' is not a device MAC (aa:bb:cc:dd:ee:ff)")
    return cn


def public_key_of_cert_pem(openssl: str, pem: str) -> str:
    return run_openssl(openssl, ["x509", "-noout", "-pubkey"], stdin=pem).strip()


def public_key_of_key(openssl: str, key_path: str) -> str:
    return run_openssl(openssl, ["pkey", "-in", key_path, "-pubout"]).strip()


def key_matches_cert(openssl: str, key_path: str, cert_path: str) -> bool:
    with open(cert_path, "r", encoding="ascii") as f:
        pem = f.read()
    try:
        return public_key_of_key(openssl, key_path) == public_key_of_cert_pem(openssl, pem)
    except CertError:
        return False


def verify_chain(openssl: str, ca_path: str, cert_pem: str) -> None:
    out = run_openssl(openssl, ["verify", "-CAfile", ca_path], stdin=cert_pem)
    if "OK" not in out:
        raise CertError(f"certificate does not verify against {ca_path}: {out.strip()[:200]}")


def expires_within(openssl: str, cert_path: str, seconds: int) -> bool:
    p = subprocess.run(
        [openssl, "x509", "-noout", "-checkend", str(int(seconds)), "-in", cert_path],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return p.returncode != 0


def normalise_serial(serial: str) -> str:
    """`01:AB`, `01ab`, `0x01ab` → `1AB` so serials from the server and openssl compare equal."""
    s = serial.strip().lower()
    if s.startswith("0x"):
        s = s[2:]
    s = s.replace(":", "").lstrip("0")
    return s.upper() or "0"


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str, data: str, mode: int) -> None:
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)


def make_ec_key(openssl: str, final: str) -> None:
    """New EC P-256 private key at `final` (0600), written under a temporary name and renamed."""
    directory = os.path.dirname(final) or "."
    tmp = os.path.join(directory, f".{os.path.basename(final)}.{os.getpid()}.tmp")
    old_umask = os.umask(0o077)
    try:
        if os.path.exists(tmp):
            os.unlink(tmp)
        run_openssl(openssl, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", tmp])
    finally:
        os.umask(old_umask)
    os.chmod(tmp, 0o600)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    fsync_dir(directory)


def make_csr(openssl: str, key_path: str, cn: str) -> str:
    return run_openssl(openssl, ["req", "-new", "-sha256", "-key", key_path, "-subj", f"/CN={cn}"])


def generate_key_and_csr(openssl: str, certs_dir: str, cn: str) -> str:
    """New EC P-256 key as `client.key.new` (0600) and a CSR for it; returns the CSR PEM."""
    final = os.path.join(certs_dir, PENDING_KEY)
    make_ec_key(openssl, final)
    return make_csr(openssl, final, cn)


def pem_to_der(pem: str) -> bytes:
    """The bytes of the first PEM block."""
    m = re.search(r"-----BEGIN [A-Z0-9 ]+-----([A-Za-z0-9+/=\s]+)-----END ", pem)
    if not m:
        raise CertError("not a PEM block")
    return base64.b64decode("".join(m.group(1).split()))


def spki_der(openssl: str, key_path: str) -> bytes:
    """DER SubjectPublicKeyInfo of a private key's public half (its SHA-256 is the key fingerprint)."""
    return run_openssl_bytes(openssl, ["pkey", "-in", key_path, "-pubout", "-outform", "DER"])


def sign_sha256(openssl: str, key_path: str, message: bytes) -> bytes:
    """Signature over SHA-256(message): ECDSA (DER) for EC keys, PKCS#1 v1.5 for RSA keys."""
    return run_openssl_bytes(openssl, ["dgst", "-sha256", "-sign", key_path], stdin=message)


def _link_backup(certs_dir: str, name: str) -> None:
    src = os.path.join(certs_dir, name)
    dst = src + ".prev"
    if os.path.exists(dst):
        os.unlink(dst)
    if os.path.exists(src):
        os.link(src, dst)


def install_renewed(openssl: str, certs_dir: str, cert_pem: str, ca_pem: Optional[str]) -> None:
    """Puts the pending key and its new certificate in place; the old pair stays as `*.prev`."""
    pending = os.path.join(certs_dir, PENDING_KEY)
    if not os.path.exists(pending):
        raise CertError("no renewal key is waiting for a certificate (was cert_renew sent to this device?)")
    if public_key_of_key(openssl, pending) != public_key_of_cert_pem(openssl, cert_pem):
        raise CertError("the new certificate is not for the key this device made")
    ca_path = os.path.join(certs_dir, CA)
    if ca_pem:
        atomic_write(os.path.join(certs_dir, CA + ".new"), ca_pem, 0o644)
        verify_chain(openssl, os.path.join(certs_dir, CA + ".new"), cert_pem)
    else:
        verify_chain(openssl, ca_path, cert_pem)
    atomic_write(os.path.join(certs_dir, CERT + ".new"), cert_pem, 0o644)
    for name in (KEY, CERT, CA):
        _link_backup(certs_dir, name)
    # Key first, then certificate: a crash in between is repaired by recover() at the next start.
    os.replace(pending, os.path.join(certs_dir, KEY))
    os.replace(os.path.join(certs_dir, CERT + ".new"), os.path.join(certs_dir, CERT))
    if ca_pem:
        os.replace(os.path.join(certs_dir, CA + ".new"), ca_path)
    fsync_dir(certs_dir)


def rollback(certs_dir: str) -> bool:
    """Restores the `*.prev` pair (renewal failed on the broker). True when something was restored."""
    restored = False
    for name in (KEY, CERT, CA):
        prev = os.path.join(certs_dir, name + ".prev")
        if os.path.exists(prev):
            os.replace(prev, os.path.join(certs_dir, name))
            restored = True
    fsync_dir(certs_dir)
    return restored


def commit(certs_dir: str) -> None:
    """The new certificate works: drop the previous key and certificate."""
    for name in (KEY, CERT, CA):
        prev = os.path.join(certs_dir, name + ".prev")
        if os.path.exists(prev):
            os.unlink(prev)
    fsync_dir(certs_dir)


def recover(openssl: str, certs_dir: str) -> Optional[str]:
    """At start: repairs a renewal interrupted between its renames. Returns what it did, if anything."""
    key = os.path.join(certs_dir, KEY)
    cert = os.path.join(certs_dir, CERT)
    if not (os.path.exists(key) and os.path.exists(cert)):
        return None
    if key_matches_cert(openssl, key, cert):
        return None
    new_cert = cert + ".new"
    if os.path.exists(new_cert) and key_matches_cert(openssl, key, new_cert):
        os.replace(new_cert, cert)
        fsync_dir(certs_dir)
        return "completed an interrupted certificate installation"
    if os.path.exists(key + ".prev") and os.path.exists(cert + ".prev") and key_matches_cert(
        openssl, key + ".prev", cert + ".prev"
    ):
        rollback(certs_dir)
        return "restored the previous key and certificate after an interrupted installation"
    raise CertError(f"{key} does not match {cert} and no consistent pair is available; re-provision this gateway")
