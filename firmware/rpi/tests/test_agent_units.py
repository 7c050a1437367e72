"""Unit tests of the agent's pure parts and file handling (real openssl, real SQLite).

Run: python3 -m unittest discover -s firmware/rpi/tests -t firmware/rpi
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

from gateway_agent import certs as C
from gateway_agent.buffer import TelemetryBuffer
from gateway_agent.config import ConfigError, parse_config


def sh(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, text=True, **kw).stdout


class ConfigTests(unittest.TestCase):
    def test_defaults_and_slaves(self):
        cfg = parse_config({
            "mqtt": {"host": "broker.local"},
            "modbus": {"port": "/dev/ttyUSB0", "slaves": [{"slave": 3, "register": 7, "unit": "kWh", "scale": 0.5, "count": 2}]},
        })
        self.assertEqual(cfg.mqtt.port, 8883)
        self.assertEqual(cfg.certs_dir, "/etc/gateway-iot/certs")
        self.assertEqual(cfg.modbus.slaves[0].count, 2)
        self.assertEqual(cfg.reboot_command, ["systemctl", "reboot"])

    def test_errors_name_the_field(self):
        cases = [
            ({}, "mqtt"),
            ({"mqtt": {"host": "h", "port": 70000}}, "mqtt.port"),
            ({"mqtt": {"host": "h"}, "modbus": {"port": "/dev/x", "slaves": [{"slave": 0, "register": 1, "unit": "C"}]}}, "modbus.slaves[0].slave"),
            ({"mqtt": {"host": "h"}, "commands": {"reboot": "reboot now"}}, "commands.reboot"),
        ]
        for data, field in cases:
            with self.assertRaises(ConfigError) as ctx:
                parse_config(data)
            self.assertIn(field, str(ctx.exception))


class BufferTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_order_bound_and_persistence(self):
        path = os.path.join(self.dir, "b.sqlite3")
        b = TelemetryBuffer(path, max_messages=5)
        for i in range(8):
            b.append("t", json.dumps({"valor": i}))
        self.assertEqual(b.count(), 5)
        self.assertEqual(b.dropped, 3)
        rows = b.next_after(0, 10)
        self.assertEqual([json.loads(p)["valor"] for _, _, p in rows], [3, 4, 5, 6, 7])
        b.remove(rows[0][0])
        b.close()
        again = TelemetryBuffer(path, max_messages=5)
        self.assertEqual([json.loads(p)["valor"] for _, _, p in again.next_after(0, 10)], [4, 5, 6, 7])
        again.close()


class CertTests(unittest.TestCase):
    """Renewal file handling with a throwaway CA made by the openssl CLI."""

    MAC = "dc:a6:32:00:00:01"

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.certs = os.path.join(self.dir, "certs")
        os.mkdir(self.certs, 0o700)
        d = self.dir
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
           "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt", "-subj", "/CN=test ca", "-days", "2")
        shutil.copy(f"{d}/ca.crt", os.path.join(self.certs, "ca.crt"))
        csr = C.generate_key_and_csr("openssl", self.certs, self.MAC)
        os.replace(os.path.join(self.certs, C.PENDING_KEY), os.path.join(self.certs, C.KEY))
        self._sign(csr, os.path.join(self.certs, C.CERT))

    def tearDown(self):
        shutil.rmtree(self.dir)

    def _sign(self, csr_pem, out):
        csr = os.path.join(self.dir, "req.csr")
        with open(csr, "w") as f:
            f.write(csr_pem)
        sh("openssl", "x509", "-req", "-in", csr, "-CA", f"{self.dir}/ca.crt", "-CAkey", f"{self.dir}/ca.key",
           "-CAcreateserial", "-days", "2", "-out", out)

    def test_identity_from_cn_and_serial_forms(self):
        self.assertEqual(C.device_mac("openssl", os.path.join(self.certs, C.CERT)), self.MAC)
        info = C.cert_info("openssl", os.path.join(self.certs, C.CERT))
        self.assertEqual(C.normalise_serial(info.serial_hex.lower()), C.normalise_serial("0x" + info.serial_hex))
        self.assertEqual(C.normalise_serial("00:0A:ff"), "AFF")

    def test_pending_key_is_private_and_install_keeps_previous_until_commit(self):
        old_serial = C.cert_info("openssl", os.path.join(self.certs, C.CERT)).serial_hex
        csr = C.generate_key_and_csr("openssl", self.certs, self.MAC)
        self.assertEqual(os.stat(os.path.join(self.certs, C.PENDING_KEY)).st_mode & 0o777, 0o600)
        new_cert = os.path.join(self.dir, "new.crt")
        self._sign(csr, new_cert)
        with open(new_cert) as f:
            pem = f.read()
        C.install_renewed("openssl", self.certs, pem, None)
        self.assertTrue(C.key_matches_cert("openssl", os.path.join(self.certs, C.KEY), os.path.join(self.certs, C.CERT)))
        self.assertNotEqual(C.cert_info("openssl", os.path.join(self.certs, C.CERT)).serial_hex, old_serial)
        self.assertTrue(C.rollback(self.certs))
        self.assertEqual(C.cert_info("openssl", os.path.join(self.certs, C.CERT)).serial_hex, old_serial)
        self.assertTrue(C.key_matches_cert("openssl", os.path.join(self.certs, C.KEY), os.path.join(self.certs, C.CERT)))

    def test_rejects_a_certificate_for_another_key(self):
        other = tempfile.mkdtemp(dir=self.dir)
        csr = C.generate_key_and_csr("openssl", other, self.MAC)
        cert = os.path.join(self.dir, "foreign.crt")
        self._sign(csr, cert)
        C.generate_key_and_csr("openssl", self.certs, self.MAC)
        with open(cert) as f:
            with self.assertRaises(C.CertError):
                C.install_renewed("openssl", self.certs, f.read(), None)

    def test_recover_completes_an_install_interrupted_between_renames(self):
        csr = C.generate_key_and_csr("openssl", self.certs, self.MAC)
        new_cert = os.path.join(self.certs, C.CERT + ".new")
        self._sign(csr, new_cert)
        # crash after "key renamed", before "certificate renamed"
        os.link(os.path.join(self.certs, C.KEY), os.path.join(self.certs, C.KEY + ".prev"))
        os.link(os.path.join(self.certs, C.CERT), os.path.join(self.certs, C.CERT + ".prev"))
        os.replace(os.path.join(self.certs, C.PENDING_KEY), os.path.join(self.certs, C.KEY))
        self.assertFalse(C.key_matches_cert("openssl", os.path.join(self.certs, C.KEY), os.path.join(self.certs, C.CERT)))
        self.assertIsNotNone(C.recover("openssl", self.certs))
        self.assertTrue(C.key_matches_cert("openssl", os.path.join(self.certs, C.KEY), os.path.join(self.certs, C.CERT)))


if __name__ == "__main__":
    unittest.main()
