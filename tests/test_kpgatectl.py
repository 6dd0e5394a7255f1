#!/usr/bin/env python3
"""Integration test: kpgatectl against the real kpgate in software mode.

Every subcommand runs against a running gateway, in words and with
--json (which must parse): status, stats, keys, reload (trust, plugins,
both, refused), drain and resume (a drained gateway answers overloaded,
a resumed one decides again). The key listing is checked against a trust
list of 300 keys more, made here with kpgate-authority: far more than one
telemetry reply holds, so every page must be fetched. Without a gateway,
and without permission, kpgatectl names the cause and exits 3, with no EAL
lines. Bounded: every wait has a timeout; the whole test takes well under
two minutes.

usage: test_kpgatectl.py BUILD_DIR
"""
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from gwharness import GatewayTestCase, Gateway, make_demo_pki  # noqa: E402

BUILD = None
EXTRA_KEYS = 300
# An authority name that JSON must escape, on the way through telemetry.
ODD_AUTHORITY = 'Bureau "Quoted" \\ Back-slashed Authority'


class KpgatectlTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="kpgate-ctl-")
        cls.auth = os.path.join(BUILD, "tools", "kpgate-authority")
        cls.ctlbin = os.path.join(BUILD, "tools", "kpgatectl")
        make_demo_pki(BUILD, cls.dir)
        cls.big_ids = cls.make_big_list()
        cls.gw = Gateway(BUILD, cls.path("kpgate.conf"),
                         f"kpgctl{os.getpid()}",
                         log=cls.path("kpgate.log"))
        cls.gw.start()

    @classmethod
    def make_big_list(cls):
        """big.kptl: the demo list plus EXTRA_KEYS Ed25519 keys, version 2.
        Returns every key id in it."""
        with open(cls.path("trust.json")) as f:
            desc = json.load(f)
        ids = set()
        os.makedirs(cls.path("big"), exist_ok=True)
        for i in range(EXTRA_KEYS):
            prefix = cls.path(f"big/k{i}")
            r = subprocess.run([cls.auth, "keygen", "--alg", "ed25519",
                                "--out", prefix], check=True, timeout=10,
                               capture_output=True, text=True)
            ids.add(r.stdout.split()[-1].lower())
            desc["keys"].append({
                "pub": f"big/k{i}.pub", "alg": "ed25519", "participant": "ZA",
                "authority": ODD_AUTHORITY if i == 0 else f"Test Authority {i}",
                "not_before": "2020-01-01T00:00:00Z",
                "not_after": "2030-12-31T23:59:59Z", "status": "active"})
        desc["version"] = 2
        with open(cls.path("big.json"), "w") as f:
            json.dump(desc, f)
        subprocess.run([cls.auth, "trustlist", "--anchor",
                        cls.path("anchor.key"), "--in", cls.path("big.json"),
                        "--out", cls.path("big.kptl")], check=True,
                       timeout=60, capture_output=True)
        return ids

    def ctl(self, *args, as_json=True, prefix=None, user=None):
        """Runs kpgatectl; returns (exit status, parsed JSON or text, stderr)."""
        cmd = [self.ctlbin, "-f", prefix or self.gw.name]
        if as_json:
            cmd.append("--json")
        cmd += list(args)
        if user:
            cmd = ["runuser", "-u", user, "--"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        out = r.stdout
        if as_json:
            try:
                out = json.loads(r.stdout)
            except ValueError:
                self.fail(f"--json output does not parse: {r.stdout!r} "
                          f"stderr {r.stderr!r}")
        return r.returncode, out, r.stderr

    def scan(self, name):
        return self.gw.scan(self.path(name))

    def test_a_status(self):
        rc, st, err = self.ctl("status")
        self.assertEqual(rc, 0, err)
        self.assertEqual(st["trust_list"]["version"], 1)
        self.assertEqual(st["trust_list"]["keys"], 7)
        self.assertGreaterEqual(st["trust_list"]["age_s"], 0)
        self.assertLess(st["trust_list"]["age_s"], 600)
        self.assertEqual(st["chain"], ["validity", "participant"])
        self.assertEqual(st["lcores"], 1)
        self.assertEqual(st["ports"], 1)
        self.assertIn("net_tap", st["port_list"][0]["name"])
        self.assertIs(st["draining"], False)
        self.assertEqual(st["pid"], self.gw.proc.pid)
        rc, text, err = self.ctl("status", as_json=False)
        self.assertEqual(rc, 0, err)
        self.assertIn("trust list:  version 1, 7 keys", text)
        self.assertIn("policy:      validity, participant", text)

    def test_b_stats(self):
        for name in ("genuine.kpc", "genuine.kpc", "forged.kpc"):
            self.scan(name)
        rc, s, err = self.ctl("stats")
        self.assertEqual(rc, 0, err)
        self.assertGreaterEqual(s["stats"]["requests"], 3)
        self.assertGreaterEqual(s["stats"]["accept"], 2)
        self.assertGreaterEqual(s["stats"]["reasons"]["signature_invalid"], 1)
        self.assertGreaterEqual(s["stats"]["latency"]["cold_answers"], 1)
        self.assertGreaterEqual(s["stats"]["latency"]["warm_answers"], 1)
        self.assertGreaterEqual(s["plugins"]["validity"]["accept"], 2)
        self.assertIn("packet", s["drops"])
        self.assertIn("request", s["drops"])
        rc, text, err = self.ctl("stats", as_json=False)
        self.assertEqual(rc, 0, err)
        self.assertIn("signature_invalid", text)
        self.assertIn("validity", text)

    def test_c_reload_and_every_key(self):
        # The same list again: refused, and the reason says why.
        rc, r, err = self.ctl("reload", "trust")
        self.assertEqual(rc, 1, r)
        self.assertIs(r["ok"], False)
        self.assertEqual(r["result"], "refused")
        self.assertIn("not newer", r["reason"])
        rc, _, err = self.ctl("reload", "trust", as_json=False)
        self.assertEqual(rc, 1)
        self.assertIn("trust list refused", err)
        self.assertIn("version 1 stays in force", err)

        shutil.copy(self.path("big.kptl"), self.path("trust.kptl"))
        rc, r, err = self.ctl("reload", "trust")
        self.assertEqual(rc, 0, (r, err))
        self.assertEqual(r["version"], 2)

        # One telemetry page holds a few dozen keys: this needs them all.
        page = self.gw.telemetry("/kpgate/keys,0")
        self.assertEqual(page["total"], 7 + EXTRA_KEYS)
        self.assertLess(page["count"], 7 + EXTRA_KEYS)
        rc, k, err = self.ctl("keys")
        self.assertEqual(rc, 0, err)
        self.assertEqual(k["version"], 2)
        self.assertEqual(k["total"], 7 + EXTRA_KEYS)
        ids = [e["key_id"] for e in k["keys"]]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertTrue(self.big_ids <= set(ids))
        self.assertEqual(len(ids), 7 + EXTRA_KEYS)
        by_auth = {e["authority"]: e for e in k["keys"]}
        self.assertIn(ODD_AUTHORITY, by_auth)
        self.assertEqual(by_auth["Government Gold and Diamond Office"]["status"],
                         "revoked")
        rc, text, err = self.ctl("keys", as_json=False)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(text.splitlines()), 2 + 7 + EXTRA_KEYS)

        rc, r, err = self.ctl("reload", "plugins")
        self.assertEqual(rc, 0, err)
        self.assertEqual(r["plugins"], "loaded")
        rc, r, err = self.ctl("reload")        # both: the trust list refused
        self.assertEqual(rc, 1, r)
        self.assertEqual(r["plugins"], "loaded")
        self.assertEqual(r["result"], "refused")
        rc, r, err = self.ctl("reload", "everything")
        self.assertEqual(rc, 2)
        self.assertEqual(r["cause"], "usage")

    def test_d_drain_and_resume(self):
        rc, d, err = self.ctl("drain")
        self.assertEqual(rc, 0, err)
        self.assertIs(d["draining"], True)
        self.assertEqual(d["in_flight"], 0)
        rc, a = self.scan("genuine-bw.kpc")
        self.assertEqual(rc, 3, a)
        self.assertEqual(a["error"], "overloaded")
        rc, st, _ = self.ctl("status")
        self.assertIs(st["draining"], True)
        rc, s, _ = self.ctl("stats")
        self.assertGreaterEqual(s["stats"]["drained"], 1)
        rc, text, err = self.ctl("resume", as_json=False)
        self.assertEqual(rc, 0, err)
        self.assertIn("resumed", text)
        rc, a = self.scan("genuine-bw.kpc")
        self.assertEqual(rc, 0, a)
        self.assertEqual(a["decision"], "accept")

    def test_e_dpdk_telemetry_sees_the_same(self):
        r = subprocess.run(["dpdk-telemetry.py", "-f", self.gw.name],
                           input="/kpgate/keys,0\n/kpgate/drain,status\n",
                           capture_output=True, text=True, timeout=20)
        self.assertIn('"total"', r.stdout, r.stdout + r.stderr)
        self.assertIn('"in_flight"', r.stdout, r.stdout + r.stderr)

    def test_f_no_permission(self):
        try:
            pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user nobody")
        # A copy the unprivileged user can run, wherever the build is.
        d = tempfile.mkdtemp(prefix="kpgatectl-")
        try:
            os.chmod(d, 0o755)
            exe = os.path.join(d, "kpgatectl")
            shutil.copy(self.ctlbin, exe)
            os.chmod(exe, 0o755)
            r = subprocess.run(["runuser", "-u", "nobody", "--", exe, "-f",
                                self.gw.name, "--json", "status"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
            self.assertIn("no permission", r.stderr)
            self.assertEqual(json.loads(r.stdout)["cause"], "no_permission")
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_z_no_gateway(self):
        self.assertEqual(self.gw.stop(), 0, self.gw.log_text())
        for args in (("status",), ("--json", "status"), ("keys",),
                     ("reload",), ("drain",)):
            r = subprocess.run([self.ctlbin, "-f", self.gw.name, *args],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 3, args)
            self.assertIn("kpgate is not running", r.stderr)
            self.assertNotIn("EAL", r.stderr + r.stdout)
        r = subprocess.run([self.ctlbin, "-f", self.gw.name, "--json", "stats"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(json.loads(r.stdout)["cause"], "not_running")


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
