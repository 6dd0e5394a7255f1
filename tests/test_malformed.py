#!/usr/bin/env python3
"""Integration test: the malformed-input corpus through the real kpgate.

kpgate runs in software mode on a DPDK tap device in a network namespace
of its own. Every kind of tests/malformed_frames.py (runts, bad IP
lengths and checksums, fragments, QinQ, IPv6 extension chains, bad UDP,
truncated varints, oversized, unknown and duplicate fields, bad UTF-8,
non-canonical certificates, ...) is sent several times, as built, through an
AF_PACKET socket on the tap. After each kind the counters of /kpgate/drops
must have moved by exactly what that kind promises and nothing else, and
its answers (if it gets any) must carry the right error. None of it may
cost a signature check; afterwards a genuine scan is still accepted, and
kpgate stops cleanly on SIGTERM with no sanitizer report in its log (an
ASan/UBSan build writes its reports there). Bounded: every wait has a
timeout and the whole test ends well within two minutes.

usage: test_malformed.py BUILD_DIR
"""
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from gwharness import GatewayTestCase, Gateway, GW4, IFACE, make_demo_pki  # noqa: E402
import malformed_frames as mf  # noqa: E402

BUILD = None
SENDS = 3                    # of each kind
# The station side's kernel talks IPv6 on its own (router solicitations,
# MLD reports, to groups that are not the gateway's) now and then.
BACKGROUND = {"packet.not_for_us"}
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:")


class MalformedCorpusTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="kpgate-mf-")
        make_demo_pki(BUILD, cls.dir)
        cls.gw = Gateway(BUILD, os.path.join(cls.dir, "kpgate.conf"),
                         f"kpgmf{os.getpid()}",
                         log=os.path.join(cls.dir, "kpgate.log"))
        cls.gw.start()
        cls.sock = mf.tap_socket(cls.gw.netns, IFACE)
        with open(os.path.join(cls.dir, "genuine.kpc"), "rb") as f:
            signed = f.read()
        cls.kinds = mf.kinds(cls.gateway_mac(), signed, int(time.time()))

    @classmethod
    def tearDownClass(cls):
        cls.sock.close()
        super().tearDownClass()

    @classmethod
    def gateway_mac(cls):
        cls.gw.ns("ping", "-c", "1", "-W", "2", GW4, check=False)
        out = cls.gw.ns("ip", "neigh", "show", GW4).stdout
        m = re.search(r"lladdr ([0-9a-f:]{17})", out)
        if m is None:
            raise RuntimeError(f"gateway did not answer ARP: {out!r}")
        return bytes.fromhex(m.group(1).replace(":", ""))

    def counters(self):
        """/kpgate/drops as one dict: packet.X, request.X and error.X."""
        d = self.gw.telemetry("/kpgate/drops")
        return {f"{group}.{name}": v for group in ("packet", "request", "error")
                for name, v in d[group].items()}

    def send_kind(self, kind):
        """Sends kind SENDS times; returns (counter changes, answers)."""
        before = self.counters()
        mf.drain(self.sock)
        for _ in range(SENDS):
            self.sock.send(kind.frame)
        want = {c: before.get(c, 0) + n * SENDS for c, n in kind.counts.items()}
        deadline = time.monotonic() + 5
        while True:
            after = self.counters()
            if all(after.get(c, 0) >= v for c, v in want.items()) or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.02)
        # An answer leaves in the burst that counted its request; a short
        # wait shows one that should not be there.
        answers = mf.collect_answers(self.sock, SENDS if kind.answer else 0,
                                     3 if kind.answer else 0.2)
        after = self.counters()
        changed = {c: v - before.get(c, 0) for c, v in after.items()
                   if v != before.get(c, 0) and
                   (c not in BACKGROUND or c in kind.counts)}
        return changed, answers

    def test_1_each_kind_counted_under_its_reason(self):
        self.assertGreaterEqual(len(self.kinds), 20)
        codes = {name: code for code, name in mf.ERRORS.items()}
        stats0 = self.gw.telemetry("/kpgate/stats")
        for kind in self.kinds:
            with self.subTest(kind=kind.name):
                changed, answers = self.send_kind(kind)
                self.assertEqual(changed, {c: n * SENDS for c, n in kind.counts.items()})
                if kind.answer is None:
                    self.assertEqual(answers, [])
                    continue
                self.assertEqual(len(answers), SENDS, answers)
                for rid, decision, error, verdicts in answers:
                    self.assertEqual(error, codes[kind.answer])
                    self.assertEqual((decision, verdicts), (0, 0))
                    self.assertEqual(rid, kind.answer_id)
        stats1 = self.gw.telemetry("/kpgate/stats")
        # Refused before any crypto: no verify, not even a cache lookup.
        for c in ("verify_ok", "verify_failed", "cache_hits", "cache_misses"):
            self.assertEqual(stats1[c], stats0[c], c)
        self.assertIsNone(self.gw.proc.poll(), "kpgate died")

    def test_2_genuine_scan_still_accepted(self):
        before = self.gw.telemetry("/kpgate/stats")
        rc, a = self.gw.scan(os.path.join(self.dir, "genuine.kpc"))
        self.assertEqual(rc, 0, a)
        self.assertEqual(a["decision"], "accept")
        after = self.gw.telemetry("/kpgate/stats")
        self.assertEqual(after["verify_ok"], before["verify_ok"] + 1)

    def test_3_clean_shutdown_no_sanitizer_report(self):
        rc = self.gw.stop()
        log = self.gw.log_text()
        self.assertEqual(rc, 0, log)
        self.assertIn("kpgate: stopped", log)
        for report in SANITIZER_REPORTS:
            self.assertNotIn(report, log)


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
