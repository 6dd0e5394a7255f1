#!/usr/bin/env python3
"""Integration test: the policy reloaded 50 times while a station sends.

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
from gwharness import Gateway, GW4  # noqa: E402

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
        subprocess.run([os.path.join(TOP, "tools", "make-demo-pki.sh"),
                        BUILD, d], check=True, timeout=60)
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


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
