"""Unit tests of zero-touch onboarding's local parts: config, signatures and fingerprints (checked with
python3-cryptography, an independent implementation), the text QR's shape, and what installing a
certificate accepts or refuses. The whole flow runs against the real server in test/rpi-agent/bootstrap.test.ts.

Run: python3 -m unittest discover -s firmware/rpi/tests -t firmware/rpi
"""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway_agent import bootstrap as B
from gateway_agent import certs as C
from gateway_agent import code_display
from gateway_agent.config import ConfigError, parse_config

MAC = "dc:a6:32:00:00:09"


def sh(*args):
    return subprocess.run(list(args), check=True, capture_output=True, text=True).stdout


class BootstrapConfigTests(unittest.TestCase):
    def test_mqtt_may_be_absent_with_a_bootstrap_section(self):
        cfg = parse_config({"bootstrap": {"server_url": "https://srv:8443/api/v1/", "ca_file": "/etc/gateway-iot/bootstrap-ca.crt"}})
        self.assertIsNone(cfg.mqtt.host)
        self.assertEqual(cfg.bootstrap.server_url, "https://srv:8443/api/v1")
        self.assertEqual(cfg.bootstrap.max_poll_s, 60)
        self.assertEqual(cfg.bootstrap.console, "/dev/tty1")
        self.assertIsNone(cfg.bootstrap.birth_cert_file)

    def test_errors_name_the_field(self):
        base = {"server_url": "https://srv/api/v1", "ca_file": "/ca.crt"}
        cases = [
            ({"bootstrap": {**base, "server_url": "http://srv/api/v1"}}, "bootstrap.server_url"),
            ({"bootstrap": {"server_url": "https://srv/api/v1"}}, "bootstrap.ca_file"),
            ({"bootstrap": {**base, "birth_cert_file": "/b.crt"}}, "bootstrap.birth_key_file"),
            ({"bootstrap": {**base, "console": "tty1"}}, "bootstrap.console"),
            ({"bootstrap": {**base, "max_poll_s": 0}}, "bootstrap.max_poll_s"),
            ({"bootstrap": {**base, "model": "Pi\n4"}}, "bootstrap.model"),
            ({"bootstrap": {**base, "interface": "../eth0"}}, "bootstrap.interface"),
            ({}, "mqtt"),
        ]
        for data, field in cases:
            with self.assertRaises(ConfigError, msg=field) as ctx:
                parse_config(data)
            self.assertIn(field, str(ctx.exception))


class SignatureTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.key = os.path.join(self.dir, "k.pem")
        C.make_ec_key("openssl", self.key)
        with open(self.key, "rb") as f:
            self.private = serialization.load_pem_private_key(f.read(), password=None)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_key_is_private_and_fingerprint_is_the_spki_hash(self):
        self.assertEqual(os.stat(self.key).st_mode & 0o777, 0o600)
        spki = self.private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.assertEqual(hashlib.sha256(C.spki_der("openssl", self.key)).hexdigest(), hashlib.sha256(spki).hexdigest())

    def test_signature_is_ecdsa_sha256_over_the_exact_bytes(self):
        message = b"tds-bootstrap-poll/1\n" + b"a" * 32 + b"\n1800000000"
        sig = C.sign_sha256("openssl", self.key, message)
        self.private.public_key().verify(sig, message, ec.ECDSA(hashes.SHA256()))  # raises when wrong
        with self.assertRaises(InvalidSignature):
            self.private.public_key().verify(sig, message + b"\n", ec.ECDSA(hashes.SHA256()))

    def test_csr_der_is_the_base64_inside_the_pem(self):
        csr = C.make_csr("openssl", self.key, MAC)
        raw = subprocess.run(["openssl", "req", "-outform", "DER"], input=csr.encode(), capture_output=True, check=True).stdout
        self.assertEqual(C.pem_to_der(csr), raw)


class DisplayTests(unittest.TestCase):
    def test_text_qr_is_a_square_with_its_quiet_zone(self):
        rows = code_display.qr_lines("TDS:C1:DCA632000009:K7M2Q4T0")
        self.assertIsNotNone(rows)
        width = len(rows[0])
        self.assertTrue(all(len(r) == width for r in rows))
        self.assertEqual(len(rows), (width + 1) // 2)
        self.assertEqual(rows[0], "\u2588" * width)  # quiet zone: light, drawn as ink
        self.assertEqual(code_display.grouped_fingerprint("3f2a9c0177be12d4" + "0" * 48), "3f2a 9c01 77be 12d4")


class InstallTests(unittest.TestCase):
    """Bootstrapper._install on real files, with a throwaway CA made by openssl."""

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        d = self.dir
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
           "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt", "-subj", "/CN=test ca", "-days", "2")
        self.cfg = parse_config({
            "bootstrap": {"server_url": "https://srv/api/v1", "ca_file": f"{d}/ca.crt", "console": None},
            "paths": {"certs_dir": f"{d}/certs", "state_dir": f"{d}/state"},
        })
        os.mkdir(f"{d}/certs", 0o700)
        os.mkdir(f"{d}/state", 0o700)
        self.b = B.Bootstrapper.__new__(B.Bootstrapper)  # no network interface or server needed here
        self.b.cfg, self.b.b, self.b.openssl, self.b.mac = self.cfg, self.cfg.bootstrap, "openssl", MAC
        self.b.key_path = os.path.join(d, "certs", B.KEY)
        self.b.state = {"bootstrap_id": "f" * 32}
        C.make_ec_key("openssl", self.b.key_path)
        with open(f"{d}/state/{B.STATE}", "w") as f:
            json.dump(self.b.state, f)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def _cert(self, key_path, cn):
        csr = os.path.join(self.dir, "r.csr")
        with open(csr, "w") as f:
            f.write(C.make_csr("openssl", key_path, cn))
        return sh("openssl", "x509", "-req", "-in", csr, "-CA", f"{self.dir}/ca.crt", "-CAkey", f"{self.dir}/ca.key", "-CAcreateserial", "-days", "2")

    def _answer(self, cert, **extra):
        with open(f"{self.dir}/ca.crt") as f:
            ca = f.read()
        return {"certificate_pem": cert, "ca_pem": ca, "mqtt_broker": "broker.local", "mqtt_port": 8883, "codigo": "GW1", **extra}

    def test_installs_key_ca_and_certificate_with_their_modes_and_forgets_the_request(self):
        self.b._install(self._answer(self._cert(self.b.key_path, MAC)))
        certs = os.path.join(self.dir, "certs")
        self.assertEqual(os.stat(os.path.join(certs, C.KEY)).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(os.path.join(certs, C.CERT)).st_mode & 0o777, 0o644)
        self.assertEqual(os.stat(os.path.join(certs, C.CA)).st_mode & 0o777, 0o644)
        self.assertTrue(C.key_matches_cert("openssl", os.path.join(certs, C.KEY), os.path.join(certs, C.CERT)))
        self.assertEqual(B.broker_from_state(os.path.join(self.dir, "state")), {"mqtt_broker": "broker.local", "mqtt_port": 8883, "codigo": "GW1"})
        self.assertFalse(os.path.exists(self.b.key_path))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "state", B.STATE)))
        self.assertFalse(B.needed(self.cfg))

    def test_refuses_another_key_another_mac_a_private_key_and_a_bad_port_writing_nothing(self):
        other = os.path.join(self.dir, "other.key")
        C.make_ec_key("openssl", other)
        answers = [
            self._answer(self._cert(other, MAC)),
            self._answer(self._cert(self.b.key_path, "dc:a6:32:00:00:01")),
            self._answer(self._cert(self.b.key_path, MAC), private_key_pem="-----BEGIN PRIVATE KEY-----"),
            self._answer(self._cert(self.b.key_path, MAC), mqtt_port=0),
        ]
        for a in answers:
            with self.assertRaises(B.BootstrapError):
                self.b._install(a)
            self.assertTrue(B.needed(self.cfg))
            self.assertFalse(os.path.exists(os.path.join(self.dir, "certs", C.KEY)))
            self.assertIsNone(B.broker_from_state(os.path.join(self.dir, "state")))
            self.assertTrue(os.path.exists(self.b.key_path))


if __name__ == "__main__":
    unittest.main()
