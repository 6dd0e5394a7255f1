#!/usr/bin/env python3
"""Integration tests: the policy, then the trust list, reloaded 50 times
each while a station sends.

A station sends genuine certificates continuously while the gateway's
plugin configuration flips 50 times between two policies: one under which
the value plugin accepts the parcel's US$ per carat, one under which it
refers it. Every request must be answered, each by the old or the new
policy (accept or refer, never an error or silence), both policies must be
seen, and the gateway must stop cleanly. Bounded: under two minutes.

usage: test_reload.py BUILD_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from gwharness import Gateway, GW4, make_demo_pki  # noqa: E402

BUILD = None
RELOADS = 50

POLICY = """
plugins = (
  { name = "validity"; },
  { name = "participant"; },
  { name = "value"; bands = ( { origin = "*"; min = "%s"; max = "5000.00"; } ); }
);
"""


class ReloadTest(unittest.TestCase):
    def test_reload_under_traffic(self):
        d = tempfile.mkdtemp(prefix="kpgate-reload-")
        try:
            self.run_in(d)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def run_in(self, d):
        make_demo_pki(BUILD, d)
        conf = os.path.join(d, "kpgate.conf")
        with open(conf) as f:
            base = f.read()

        def policy(refer):
            # The demo certificates declare about US$130 per carat.
            with open(conf + ".new", "w") as f:
                f.write(base + POLICY % ("200.00" if refer else "5.00"))
            os.replace(conf + ".new", conf)

        policy(False)
        with Gateway(BUILD, conf, f"kpgrl{os.getpid()}",
                     log=os.path.join(d, "kpgate.log")) as gw:
            gw.start()
            certs = [os.path.join(d, n) for n in
                     ("genuine.kpc", "genuine-bw.kpc", "genuine-ca.kpc")]
            count, rate = 12000, 1500.0
            out = {}

            def station():
                r = gw.ns(sys.executable, os.path.join(HERE, "station.py"),
                          GW4, *certs, "--count", str(count), "--rate",
                          str(rate), "--wait", "5", timeout=90)
                out.update(json.loads(r.stdout))

            t = threading.Thread(target=station)
            t.start()
            time.sleep(0.5)
            reloads = []
            for k in range(RELOADS):
                policy(refer=k % 2 == 0)
                reply = gw.telemetry("/kpgate/reload,plugins")
                reloads.append(reply.get("plugins"))
                time.sleep(0.1)
            t.join(timeout=100)
            self.assertFalse(t.is_alive(), "station did not finish")

            self.assertEqual(reloads, ["loaded"] * RELOADS, reloads)
            self.assertEqual(out["answered"], out["sent"],
                             f"{out['sent'] - out['answered']} requests "
                             "never answered")
            decisions = {}
            for rid, (decision, error, verdicts) in out["answers"].items():
                self.assertEqual(error, 0, f"request {rid}: error {error}")
                # accept = 1 (old or accepting policy), refer = 2.
                self.assertIn(decision, (1, 2), f"request {rid}")
                self.assertEqual(verdicts, 4, f"request {rid}")
                decisions[decision] = decisions.get(decision, 0) + 1
            self.assertGreater(decisions.get(1, 0), 0, decisions)
            self.assertGreater(decisions.get(2, 0), 0, decisions)
            counts = gw.telemetry("/kpgate/plugins")
            self.assertGreater(counts["value"]["refer"], 0, counts)
            self.assertEqual(gw.stop(), 0, gw.log_text())
            print(f"{out['sent']} requests in {out['seconds']} s, all "
                  f"answered across {RELOADS} reloads: {decisions}")


class TrustReloadTest(unittest.TestCase):
    """50 trust-list versions swapped in under traffic, every odd one
    revoking the South African key: no request lost, and each verdict
    agrees with the list version its audit record names."""

    def test_trust_reload_with_revocations(self):
        d = tempfile.mkdtemp(prefix="kpgate-trust-")
        try:
            self.run_in(d)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def run_in(self, d):
        make_demo_pki(BUILD, d)
        auth = os.path.join(BUILD, "tools", "kpgate-authority")
        with open(os.path.join(d, "trust.json")) as f:
            desc = json.load(f)
        za = next(k for k in desc["keys"] if k["participant"] == "ZA")
        # Versions 2 .. 51: odd ones revoke ZA's key, even ones restore it.
        for v in range(2, RELOADS + 2):
            za["status"] = "revoked" if v % 2 else "active"
            if v % 2:
                za["status_since"] = desc["issued_at"]
            else:
                za.pop("status_since", None)
            desc["version"] = v
            with open(os.path.join(d, f"trust-{v}.json"), "w") as f:
                json.dump(desc, f)
            subprocess.run([auth, "trustlist", "--anchor",
                            os.path.join(d, "anchor.key"), "--in",
                            os.path.join(d, f"trust-{v}.json"), "--out",
                            os.path.join(d, f"trust-{v}.kptl")],
                           check=True, capture_output=True, timeout=30)
        conf = os.path.join(d, "kpgate.conf")
        with open(conf, "a") as f:
            f.write('audit: { file = "audit.log"; mode = "written"; };\n')
        live = os.path.join(d, "trust.kptl")

        with Gateway(BUILD, conf, f"kpgtr{os.getpid()}",
                     log=os.path.join(d, "kpgate.log")) as gw:
            gw.start()
            count, rate = 8000, 1200.0
            out = {}

            def station():
                r = gw.ns(sys.executable, os.path.join(HERE, "station.py"),
                          GW4, os.path.join(d, "genuine.kpc"),
                          "--count", str(count), "--rate", str(rate),
                          "--wait", "5", timeout=90)
                out.update(json.loads(r.stdout))

            t = threading.Thread(target=station)
            t.start()
            time.sleep(0.3)
            loaded = []
            for v in range(2, RELOADS + 2):
                shutil.copy(os.path.join(d, f"trust-{v}.kptl"), live + ".new")
                os.replace(live + ".new", live)
                reply = gw.telemetry("/kpgate/reload,trust")
                loaded.append(reply.get("version"))
                time.sleep(0.08)
            t.join(timeout=100)
            self.assertFalse(t.is_alive(), "station did not finish")
            self.assertEqual(loaded, list(range(2, RELOADS + 2)))
            self.assertEqual(gw.stop(), 0, gw.log_text())

        self.assertEqual(out["answered"], out["sent"],
                         f"{out['sent'] - out['answered']} never answered")
        show = subprocess.run([os.path.join(BUILD, "tools", "kpgate-audit"),
                               "show", os.path.join(d, "audit.log"), "--json"],
                              check=True, capture_output=True, text=True,
                              timeout=60)
        verify = subprocess.run([os.path.join(BUILD, "tools", "kpgate-audit"),
                                 "verify", os.path.join(d, "audit.log")],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)
        by_version = {}
        records = 0
        for line in show.stdout.splitlines():
            r = json.loads(line)
            if r.get("type") != "decision":
                continue
            records += 1
            v = r["trust_list_version"]
            revoked = v % 2 == 1 and v > 1
            sig = r["verdicts"][0]
            if revoked:
                self.assertEqual((r["decision"], sig.get("reason_name")),
                                 ("reject", "key_revoked"), r)
            else:
                self.assertEqual(r["decision"], "accept", r)
            by_version[v] = by_version.get(v, 0) + 1
        self.assertEqual(records, out["sent"])
        self.assertGreater(len(by_version), RELOADS // 2, by_version)
        # The station saw the same: accepts and rejects, nothing else.
        seen = {a[0] for a in out["answers"].values()}
        self.assertEqual(seen, {1, 3}, seen)
        print(f"{records} requests over {len(by_version)} list versions, "
              "each verdict as its version says")


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
