#!/usr/bin/env python3
"""Integration test: the real kpgate binary in software mode.

kpgate runs in a network namespace on a DPDK tap device; a station in the
same namespace scans the demo certificates with kpgate-scan over IPv4 and
IPv6, pings the gateway, sends malformed frames, reads the counters over
DPDK telemetry, and stops the gateway with SIGTERM. Bounded: every wait
has a timeout and the whole test ends within two minutes.

usage: test_gateway.py BUILD_DIR
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from gwharness import GatewayTestCase, Gateway, GW4, GW6, IFACE, make_demo_pki  # noqa: E402

BUILD = None


class GatewayTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="kpgate-it-")
        make_demo_pki(BUILD, cls.dir)
        cls.gw = Gateway(BUILD, os.path.join(cls.dir, "kpgate.conf"),
                         f"kpgit{os.getpid()}",
                         log=os.path.join(cls.dir, "kpgate.log"))
        cls.gw.start()

    def scan(self, *args, host=GW4):
        return self.gw.scan(*args, host=host)

    def reasons(self, answer):
        return {v["check"]: v["reason_name"] for v in answer["verdicts"]}

    def test_genuine_each_algorithm(self):
        for name in ("genuine.kpc", "genuine-bw.kpc", "genuine-ca.kpc"):
            rc, a = self.scan(self.path(name))
            self.assertEqual(rc, 0, a)
            self.assertEqual(a["decision"], "accept")
            self.assertEqual(a["trust_list_version"], 1)
            self.assertEqual(self.reasons(a), {"signature": "ok",
                                               "validity": "valid",
                                               "participant": "participant_ok"})

    def test_forged_revoked_expired(self):
        cases = {"forged.kpc": ("signature", "signature_invalid"),
                 "revoked.kpc": ("signature", "key_revoked"),
                 "expired.kpc": ("validity", "certificate_expired")}
        for name, (check, reason) in cases.items():
            rc, a = self.scan(self.path(name))
            self.assertEqual(rc, 2, (name, a))
            self.assertEqual(a["decision"], "reject", name)
            self.assertEqual(self.reasons(a)[check], reason, name)

    def test_malformed_gets_error(self):
        rc, a = self.scan("--raw", self.path("malformed.req"))
        self.assertEqual(rc, 3, a)
        self.assertEqual(a["error"], "malformed_request")
        self.assertEqual(a["decision"], "none")

    def test_ipv6_scan_and_warm_repeat(self):
        before = self.gw.telemetry("/kpgate/stats")
        for _ in range(3):
            rc, a = self.scan("-H", GW6, self.path("genuine-bw.kpc"), host=GW6)
            self.assertEqual(rc, 0, a)
        after = self.gw.telemetry("/kpgate/stats")
        self.assertGreaterEqual(after["cache_hits"] - before["cache_hits"], 2)

    def test_arp_and_ping(self):
        r = self.gw.ns("ping", "-c", "3", "-i", "0.2", "-W", "2", GW4,
                       check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("3 received", r.stdout)
        neigh = self.gw.ns("ip", "neigh", "show", GW4).stdout
        self.assertRegex(neigh, r"lladdr [0-9a-f:]{17}")   # ARP answered
        r = self.gw.ns("ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", GW6,
                       check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        neigh6 = self.gw.ns("ip", "-6", "neigh", "show", GW6).stdout
        self.assertRegex(neigh6, r"lladdr [0-9a-f:]{17}")  # ND answered

    def drops(self):
        """/kpgate/drops, its packet and request groups in one dict."""
        d = self.gw.telemetry("/kpgate/drops")
        return {**d["packet"], **d["request"]}

    def gateway_mac(self):
        mac = self.gw.mac()
        self.assertIsNotNone(mac, "the gateway did not answer ARP")
        return mac

    def test_malformed_frames_counted(self):
        listing = subprocess.run([sys.executable,
                                  os.path.join(HERE, "rawframes.py"), "--list"],
                                 capture_output=True, text=True, check=True)
        kinds = dict(line.split() for line in listing.stdout.splitlines())
        mac = self.gateway_mac()
        before = self.drops()
        stats0 = self.gw.telemetry("/kpgate/stats")
        self.gw.ns(sys.executable, os.path.join(HERE, "rawframes.py"),
                   IFACE, mac, *kinds)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            after = self.drops()
            missing = [k for k, c in kinds.items()
                       if after.get(c, 0) <= before.get(c, 0)]
            if not missing:
                break
            time.sleep(0.2)
        self.assertEqual(missing, [], f"not counted: {missing}\n{after}")
        stats1 = self.gw.telemetry("/kpgate/stats")
        # None of them cost a signature check.
        self.assertEqual(stats1["verify_ok"] + stats1["verify_failed"],
                         stats0["verify_ok"] + stats0["verify_failed"])

    def test_status_telemetry(self):
        st = self.gw.telemetry("/kpgate/status")
        self.assertEqual(st["trust_list"]["version"], 1)
        # The packaged client reads the same data.
        r = subprocess.run(["dpdk-telemetry.py", "-f", self.gw.name],
                           input="/kpgate/stats\n", capture_output=True,
                           text=True, timeout=20)
        self.assertIn('"requests"', r.stdout, r.stdout + r.stderr)

    def test_zz_clean_shutdown(self):
        rc = self.gw.stop()
        self.assertEqual(rc, 0, self.gw.log_text())
        self.assertRegex(self.gw.log_text(), r"kpgate: stopped")


class NoTrustListTest(unittest.TestCase):
    def test_unavailable_without_list(self):
        d = tempfile.mkdtemp(prefix="kpgate-it-")
        try:
            make_demo_pki(BUILD, d)
            os.unlink(os.path.join(d, "trust.kptl"))
            with Gateway(BUILD, os.path.join(d, "kpgate.conf"),
                         f"kpgnl{os.getpid()}",
                         log=os.path.join(d, "kpgate.log")) as gw:
                gw.start()
                rc, a = gw.scan(os.path.join(d, "genuine.kpc"))
                self.assertEqual(rc, 3, a)
                self.assertEqual(a["error"], "trust_list_unavailable")
                self.assertEqual(gw.stop(), 0)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class PluginAbiTest(unittest.TestCase):
    """A plugin built against another ABI is refused at start, by name."""

    def test_wrong_abi_refused_at_start(self):
        cases = {"tbadabi": "ABI version", "tbadsize": "kpgate's is"}
        for name, words in cases.items():
            d = tempfile.mkdtemp(prefix="kpgate-abi-")
            try:
                conf = os.path.join(d, "kpgate.conf")
                so = os.path.join(BUILD, "core", f"kpgate-{name}.so")
                with open(conf, "w") as f:
                    f.write(f'plugins = ( {{ name = "{name}"; path = "{so}"; }} );\n')
                gw = Gateway(BUILD, conf, f"kpgabi{os.getpid()}",
                             log=os.path.join(d, "kpgate.log"))
                with gw:
                    with self.assertRaises(RuntimeError):
                        gw.start(timeout=30)
                    self.assertNotEqual(gw.proc.returncode, 0)
                    log = gw.log_text()
                    self.assertIn(f"plugin {name}", log)
                    self.assertIn(words, log)
                    self.assertNotIn("kpgate: ready", log)
            finally:
                shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
