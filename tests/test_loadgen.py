#!/usr/bin/env python3
"""Integration test: kpgate-loadgen against the real kpgate over memif.

kpgate is the memif server, the load generator the client, each with its
own file prefix, no hugepages and no PCI, both in idle mode so that they
share two cores. The generator makes its own PKI, learns the gateway's MAC
by ARP, sends a bounded count of requests mixing warm (cached) and cold
certificates of the three algorithms, forged signatures, an unknown key and
malformed requests, over IPv4 and IPv6, and reports what came back. Every
request must be answered, each kind with the decision it deserves. Bounded:
every process runs under a timeout and the test ends well within 30 s.

usage: test_loadgen.py BUILD_DIR
"""
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tools", "bench"))
import lgharness  # noqa: E402

BUILD = None
COUNT = 3000


class LoadgenTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="kpgate-lg-")
        tag = f"kpglg{os.getpid()}"
        cls.sock = f"/tmp/{tag}.sock"
        cls.lg_prefix = f"{tag}l"
        lgharness.make_pki(BUILD, cls.dir, certs=64, rogue=32, timeout=60)
        conf = lgharness.write_conf(cls.dir, cache_entries=1024,
                                    idle_polls=32, idle_sleep_us=100)
        cls.gw = lgharness.Gateway(BUILD, conf, f"{tag}g", cls.sock,
                                   os.path.join(cls.dir, "kpgate.log"),
                                   lcores="1")
        cls.gw.start(timeout=20, limit_s=50)

    @classmethod
    def tearDownClass(cls):
        cls.gw.kill()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_every_request_answered_with_its_decision(self):
        before = self.gw.telemetry("/kpgate/stats")
        self.assertIsNotNone(before, "/kpgate/stats answered null")
        rc, doc, err = lgharness.loadgen(
            BUILD, self.lg_prefix, self.sock,
            ["--pki", self.dir, "--count", COUNT, "--rate", 2000,
             "--warm", 0.4, "--forged", 0.1, "--unknown", 0.1,
             "--malformed", 0.1, "--warm-certs", 8, "--stations", 16,
             "--ipv6", 0.25, "--idle-us", 100, "--timeout-ms", 1000,
             "--quiet"],
            lcores="0", timeout=25)
        self.assertEqual(rc, 0, err)
        self.assertIsNotNone(doc, err)
        r = doc["result"]
        # Nothing lost, nothing refused by the link, nothing extra.
        self.assertEqual(r["sent"], COUNT, err)
        self.assertEqual(r["answered"], COUNT, err)
        self.assertEqual(r["lost"] + r["refused"] + r["late"] + r["unmatched"],
                         0, err)
        self.assertEqual(r["trust_list_version"], 1)
        k = r["kinds"]
        self.assertEqual(set(k), {"warm", "cold", "forged", "unknown_key",
                                  "malformed"}, err)
        for name in ("warm", "cold"):
            self.assertGreater(k[name]["sent"], 0)
            self.assertEqual(k[name]["decisions"]["accept"], k[name]["sent"],
                             (name, k[name]))
        self.assertEqual(k["forged"]["decisions"]["reject"], k["forged"]["sent"])
        self.assertEqual(k["forged"]["reasons"],
                         {"signature_invalid": k["forged"]["sent"]})
        self.assertEqual(k["unknown_key"]["decisions"]["reject"],
                         k["unknown_key"]["sent"])
        self.assertEqual(k["unknown_key"]["reasons"],
                         {"unknown_key": k["unknown_key"]["sent"]})
        self.assertEqual(k["malformed"]["errors"],
                         {"malformed_request": k["malformed"]["sent"]})
        # Latencies were measured for everything answered by id.
        self.assertEqual(r["latency_us"]["count"],
                         COUNT - k["malformed"]["sent"])
        self.assertGreater(r["latency_us"]["p50"], 0)
        # The gateway saw each request once, and served the warm ones
        # from its cache (the warm-up made them hot).
        after = self.gw.telemetry("/kpgate/stats")
        self.assertIsNotNone(after, "/kpgate/stats answered null")
        warmup = doc.get("warmup", {}).get("sent", 0)
        self.assertEqual(after["requests"] - before["requests"], COUNT + warmup)
        self.assertGreaterEqual(after["cache_hits"] - before["cache_hits"],
                                k["warm"]["sent"])

    def test_zz_gateway_stops_cleanly(self):
        self.assertEqual(self.gw.stop(), 0, self.gw.log_text())


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
