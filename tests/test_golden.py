#!/usr/bin/env python3
"""Golden cases: certificates and scans with the verdicts they must get,
run through the real kpgate binary with the whole rule set.

tests/golden/policy.conf is the checkpoint's policy (every plugin),
tests/golden/cases.json the cases: a certificate (the demo certificate with
some fields changed), the authority that signs it, the station's
measurements, and the expected overall decision and verdict reasons. Cases
run in order, so later ones can scan a certificate an earlier one consumed
("same_as"). Bounded: one gateway, one scan per case.

usage: test_golden.py BUILD_DIR
"""
import copy
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
GOLDEN = os.path.join(HERE, "golden")
sys.path.insert(0, HERE)
from gwharness import Gateway, make_demo_pki  # noqa: E402

BUILD = None

AUTHORITIES = {
    "za": ("ZA", "South African Diamond and Precious Metals Regulator"),
    "bw": ("BW", "Botswana Ministry of Minerals and Energy"),
    "ca": ("CA", "Natural Resources Canada"),
    "ru": ("RU", "Gokhran of Russia"),
    "ve": ("VE", "Ministerio del Poder Popular de Desarrollo Minero Ecologico"),
    "cf": ("CF", "Bureau d'Evaluation et de Controle de Diamant et d'Or"),
}


def day(offset):
    return (datetime.datetime.now(datetime.timezone.utc).date() +
            datetime.timedelta(days=offset)).isoformat()


def certificate(key, changes):
    participant, authority = AUTHORITIES[key]
    c = {
        "number": f"{participant}-2026-000000",
        "issuing_participant": participant,
        "issuing_authority": authority,
        "exporter": {"name": "Kimberley Rough Exports (Pty) Ltd",
                     "address": "1 Mine Road, Kimberley",
                     "identifier": "EXP-4471"},
        "importer": {"name": "Antwerp Diamond Trading NV",
                     "address": "Hoveniersstraat 2, Antwerpen",
                     "identifier": "BE0412345678"},
        "importing_participant": "EU",
        "mixed_origin": False,
        "origins": [{"country": participant}],
        "lines": [{"hs": "7102.31", "carats": "1234.56",
                   "value_usd": "160492.80"}],
        "parcels": 2,
        "issue_date": day(-10),
        "expiry_date": day(80),
    }
    changes = copy.deepcopy(changes)
    if "issue_days" in changes:
        c["issue_date"] = day(changes.pop("issue_days"))
    if "expiry_days" in changes:
        c["expiry_date"] = day(changes.pop("expiry_days"))
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(c.get(k), dict):
            c[k].update(v)
        else:
            c[k] = v
    c["container_seals"] = [f"SEAL-{c['number']}"]
    return c


class GoldenTest(unittest.TestCase):
    def test_golden_cases(self):
        d = tempfile.mkdtemp(prefix="kpgate-golden-")
        try:
            self.run_in(d)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def run_in(self, d):
        make_demo_pki(BUILD, d)
        shutil.copy(os.path.join(GOLDEN, "sanctioned.list"), d)
        conf = os.path.join(d, "kpgate.conf")
        with open(conf, "a") as f, open(os.path.join(GOLDEN, "policy.conf")) as p:
            f.write(p.read())
        with open(os.path.join(GOLDEN, "cases.json")) as f:
            cases = json.load(f)

        auth = os.path.join(BUILD, "tools", "kpgate-authority")
        files = {}
        for i, case in enumerate(cases):
            if "same_as" in case:
                files[case["name"]] = files[case["same_as"]]
                continue
            js, kpc = (os.path.join(d, f"case{i}.json"),
                       os.path.join(d, f"case{i}.kpc"))
            with open(js, "w") as f:
                json.dump(certificate(case["key"], case.get("cert", {})), f)
            subprocess.run([auth, "issue", "--key",
                            os.path.join(d, case["key"] + ".key"),
                            "--in", js, "--out", kpc],
                           check=True, capture_output=True, timeout=30)
            files[case["name"]] = kpc

        failures = []
        with Gateway(BUILD, conf, f"kpggd{os.getpid()}",
                     log=os.path.join(d, "kpgate.log")) as gw:
            gw.start()
            for case in cases:
                scan = {"station": "ANR-1", "parcels": 2, "mass_mg": 251912,
                        "seal": None}
                scan.update(case.get("scan", {}))
                args = ["-s", scan["station"], "--parcels", scan["parcels"],
                        "--mass-mg", scan["mass_mg"]]
                if scan["seal"]:
                    args += ["--seal", scan["seal"]]
                rc, a = gw.scan(*args, files[case["name"]])
                got = {v["check"]: v["reason_name"]
                       for v in a.get("verdicts", [])}
                want = case["expect"]
                wrong = {k: (v, got.get(k)) for k, v in want["verdicts"].items()
                         if got.get(k) != v}
                if a.get("decision") != want["decision"] or wrong:
                    failures.append(f"{case['name']}: decision "
                                    f"{a.get('decision')} (want "
                                    f"{want['decision']}), verdicts {got}, "
                                    f"wrong {wrong}")
            counts = gw.telemetry("/kpgate/plugins")
            self.assertEqual(gw.stop(), 0, gw.log_text())
        self.assertEqual(failures, [], "\n".join(failures))
        # Every plugin of the chain judged something.
        for name in ("validity", "participant", "origin", "zones",
                     "sanctions", "value", "physical", "duplicate"):
            c = counts[name]
            self.assertGreater(c["accept"] + c["refer"] + c["reject"], 0, name)
        # The ledger's own counters come through the plugin stats hook.
        self.assertGreaterEqual(counts["duplicate"]["records"], 1, counts)
        self.assertEqual(counts["duplicate"]["ring_full"], 0, counts)
        print(f"{len(cases)} golden cases as expected")


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
