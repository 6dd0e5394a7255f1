#!/usr/bin/env python3
"""Integration test: station authentication, replays and a junk flood.

The real kpgate in software mode (tests/gwharness.py) with two registered
stations: lane-1 (HMAC required, bound to the station side's addresses)
and lane-2 (HMAC required, any address). In order:

1. unsigned requests are refused station_auth_failed with no signature
   verify spent;
2. signed requests are judged and the answers carry an HMAC that
   kpgate-scan checks; an answer it cannot verify is refused (exit 3);
3. the same request bytes again get the first answer again; other bytes
   under the same request id are refused `replay`;
4. an unknown station id is refused station_unknown;
5. the stations are reloaded to serve unknown senders from one shared
   bucket, and the counters carry over;
6. a junk flood from spoofed sources (tests/junkflood.py: raw frames with
   random source addresses and ports, each a request that would cost a
   verify) while both stations send fresh certificates at a steady rate:
   at least 99.9% of the stations' requests are answered (signed), the
   junk spends no more verifies than the shared bucket allows, and no
   error answer ever goes to an address that is not a station's.

Bounded: every wait has a timeout; the whole test ends within 120 s.

usage: test_stations.py BUILD_DIR
"""
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from gwharness import GatewayTestCase, Gateway, GW4, GW6, ST4, ST6, IFACE, make_demo_pki  # noqa: E402

BUILD = None
STATION_RATE = 15          # requests/s each, every one a fresh certificate
STATION_COUNT = 150        # ten seconds of it
FLOOD_FRAMES = 30000
FLOOD_RATE = 3000          # frames/s: ten seconds of junk
UNKNOWN_RATE, UNKNOWN_BURST = 5, 5

STATIONS = """
station_policy: {{ hmac = "required"; unknown = "{unknown}";
  unknown_rate = {rate}; unknown_burst = {burst}; }};
stations: (
  {{ id = "lane-1"; key = "{k1}"; addresses = [ "{st4}", "{st6}" ]; }},
  {{ id = "lane-2"; key_file = "lane-2.key"; }},
  {{ id = "lane.2"; key_file = "lane-2.key"; hmac = "optional"; }}
);
"""


class StationsTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="kpgate-st-")
        make_demo_pki(BUILD, cls.dir)
        cls.k1, cls.k2 = secrets.token_hex(32), secrets.token_hex(32)
        with open(cls.path("lane-2.key"), "w") as f:
            f.write(cls.k2 + "\n")
        os.chmod(cls.path("lane-2.key"), 0o600)
        cls.conf = cls.path("kpgate.conf")
        with open(cls.conf) as f:
            cls.base = f.read()
        cls.write_conf("refuse")
        cls.certs = cls.fresh_certificates(2 * STATION_COUNT)
        cls.gw = Gateway(BUILD, cls.conf, f"kpgst{os.getpid()}",
                         log=cls.path("kpgate.log"))
        cls.gw.start()

    @classmethod
    def write_conf(cls, unknown):
        text = cls.base + STATIONS.format(unknown=unknown, rate=UNKNOWN_RATE,
                                          burst=UNKNOWN_BURST, k1=cls.k1,
                                          st4=ST4, st6=ST6)
        with open(cls.conf + ".new", "w") as f:
            f.write(text)
        os.replace(cls.conf + ".new", cls.conf)

    @classmethod
    def fresh_certificates(cls, n):
        """n certificates of the Botswana authority, numbered apart: each
        costs the gateway one verify the first time it is seen."""
        with open(cls.path("genuine-bw.json")) as f:
            template = f.read()
        auth = os.path.join(BUILD, "tools", "kpgate-authority")

        def issue(i):
            js, kpc = cls.path(f"f{i}.json"), cls.path(f"f{i}.kpc")
            with open(js, "w") as f:
                f.write(template.replace("BW-2026-000102", f"BW-2026-9{i:05d}"))
            subprocess.run([auth, "issue", "--key", cls.path("bw.key"),
                            "--in", js, "--out", kpc], check=True,
                           capture_output=True, timeout=30)
            return kpc

        with ThreadPoolExecutor(max_workers=2) as ex:
            return list(ex.map(issue, range(n)))

    def scan(self, *args):
        return self.gw.scan(*args)

    def stations(self):
        return self.gw.telemetry("/kpgate/stations")

    def verifies(self):
        s = self.gw.telemetry("/kpgate/stats")
        return s["verify_ok"] + s["verify_failed"]

    # -- 1 ---------------------------------------------------------------
    def test_1_required_refuses_unsigned(self):
        v0 = self.verifies()
        for station, cert in (("lane-1", "genuine.kpc"), ("lane-2", "genuine-bw.kpc")):
            rc, a = self.scan("-s", station, self.path(cert))
            self.assertEqual(rc, 3, a)
            self.assertEqual(a["error"], "station_auth_failed", a)
        # IPv6 too: lane-1's other address
        rc, a = self.gw.scan("-s", "lane-1", self.path("genuine.kpc"), host=GW6)
        self.assertEqual(a["error"], "station_auth_failed", a)
        self.assertEqual(self.verifies(), v0, "a refused request cost a verify")
        st = self.stations()
        self.assertGreaterEqual(st["lane_1"]["auth_failed"], 2)
        self.assertEqual(st["lane_2"]["auth_failed"], 1)
        # telemetry names: '-' and '.' become '_', a clash takes the index
        self.assertEqual(st["lane_1"]["id"], "lane-1")
        self.assertEqual(st["lane_2__2"]["id"], "lane.2")
        page = self.gw.telemetry("/kpgate/stations,1,1")
        self.assertEqual([k for k in page if isinstance(page[k], dict)], ["lane_2"])
        self.assertEqual(st["unknown"], "refused")

    # -- 2 ---------------------------------------------------------------
    def test_2_signed_requests_and_answers(self):
        rc, a = self.scan("-s", "lane-1", "--hmac-key", self.k1,
                          self.path("genuine.kpc"))
        self.assertEqual(rc, 0, a)
        self.assertEqual(a["decision"], "accept")
        rc, a = self.scan("-s", "lane-2", "--key-file", self.path("lane-2.key"),
                          self.path("genuine-ca.kpc"))
        self.assertEqual(rc, 0, a)
        # signed with another station's key: the gateway refuses it, and
        # its unsigned refusal is not believed either
        rc, a = self.scan("-s", "lane-1", "--hmac-key", self.k2, "--tries", "1",
                          self.path("genuine.kpc"))
        self.assertEqual(rc, 3, a)
        self.assertEqual(a["error"], "answer_not_authenticated", a)
        self.assertIn("station_auth_failed", a["detail"])

    # -- 3 ---------------------------------------------------------------
    def test_3_rescan_and_replay(self):
        req = self.path("rescan.req")
        rc, _ = self.scan("-s", "lane-1", "--hmac-key", self.k1, "-i", "4242",
                          "--write-request", req, self.path("genuine-bw.kpc"))
        self.assertEqual(rc, 0)
        v0 = self.verifies()
        rescans0 = self.stations()["lane_1"]["rescans"]
        rc1, a1 = self.scan("--raw", req, "-i", "4242", "--hmac-key", self.k1)
        rc2, a2 = self.scan("--raw", req, "-i", "4242", "--hmac-key", self.k1)
        self.assertEqual(rc1, 0, a1)
        self.assertEqual(a1, a2)
        self.assertEqual(self.stations()["lane_1"]["rescans"], rescans0 + 1)
        self.assertLessEqual(self.verifies() - v0, 1)
        # other bytes (another certificate) under the same request id
        rc, a = self.scan("-s", "lane-1", "--hmac-key", self.k1, "-i", "4242",
                          self.path("genuine.kpc"))
        self.assertEqual(rc, 3, a)
        self.assertEqual(a["error"], "replay", a)
        self.assertEqual(self.stations()["lane_1"]["replays"], 1)

    # -- 4 ---------------------------------------------------------------
    def test_4_unknown_station(self):
        rc, a = self.scan("-s", "lane-9", self.path("genuine.kpc"))
        self.assertEqual(rc, 3, a)
        self.assertEqual(a["error"], "station_unknown", a)

    # -- 5 ---------------------------------------------------------------
    def test_5_reload_keeps_counters(self):
        before = self.stations()["lane_1"]["requests"]
        self.write_conf("serve")
        r = self.gw.telemetry("/kpgate/reload,stations")
        self.assertEqual(r["stations"], "loaded", r)
        st = self.stations()
        self.assertEqual(st["unknown"], "served")
        self.assertEqual(st["lane_1"]["requests"], before)
        rc, a = self.scan("-s", "lane-9", self.path("genuine.kpc"))
        self.assertEqual(rc, 0, a)              # served, unauthenticated

    # -- 6 ---------------------------------------------------------------
    def popen(self, *cmd):
        return subprocess.Popen(["ip", "netns", "exec", self.gw.netns, *cmd],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def test_6_junk_flood(self):
        mac = self.gw.mac()
        self.assertIsNotNone(mac, "the gateway did not answer ARP")
        jf = os.path.join(HERE, "junkflood.py")
        before = self.stations()
        v0 = self.verifies()
        watch_s = FLOOD_FRAMES / FLOOD_RATE + 8
        watcher = self.popen(sys.executable, jf, "watch", IFACE, str(watch_s),
                             "--registered", f"{ST4}")
        self.assertEqual(watcher.stdout.readline().strip(), "watching")
        t0 = time.monotonic()
        flood = self.popen(sys.executable, jf, "send", IFACE, mac,
                           self.path("genuine.kpc"), "--frames", str(FLOOD_FRAMES),
                           "--rate", str(FLOOD_RATE), "--stations", "lane-1,lane-2")
        time.sleep(0.5)                      # the flood is on before they start
        lanes = {}
        for i, (name, key) in enumerate((("lane-1", self.k1), ("lane-2", self.k2))):
            certs = self.certs[i * STATION_COUNT:(i + 1) * STATION_COUNT]
            lanes[name] = self.popen(
                sys.executable, os.path.join(HERE, "station.py"), GW4, *certs,
                "--count", str(STATION_COUNT), "--rate", str(STATION_RATE),
                "--station", name, "--hmac-key", key, "--first-id",
                str(1000000 * (i + 1)), "--wait", "5")
        results = {n: p.communicate(timeout=60) for n, p in lanes.items()}
        fout, ferr = flood.communicate(timeout=60)
        elapsed = time.monotonic() - t0
        wout, werr = watcher.communicate(timeout=60)
        self.assertEqual(flood.returncode, 0, ferr)
        self.assertEqual(watcher.returncode, 0, werr)
        sent = json.loads(fout)
        seen = json.loads(wout)

        for name, (out, err) in results.items():
            r = json.loads(out)
            answered = sum(1 for v in r["answers"].values() if v[0] == 1 and v[1] == 0)
            self.assertGreaterEqual(answered, 0.999 * r["sent"],
                                    f"{name}: {answered}/{r['sent']} accepted "
                                    f"while flooded; {r}")
            self.assertEqual(r["bad_hmac"], 0, name)

        after = self.stations()
        unknown0, unknown1 = before["_unknown"], after["_unknown"]
        junk_seen = (unknown1["requests"] - unknown0["requests"] +
                     sum(after[n]["auth_failed"] - before[n]["auth_failed"]
                         for n in ("lane_1", "lane_2")))
        self.assertGreaterEqual(junk_seen, 0.9 * sent["sent"],
                                f"the flood did not reach the gateway: {sent}, "
                                f"{after}")
        junk_verifies = unknown1["verifies"] - unknown0["verifies"]
        allowed = UNKNOWN_BURST + UNKNOWN_RATE * (elapsed + 1)
        self.assertLessEqual(junk_verifies, allowed, after)
        self.assertLessEqual(self.verifies() - v0,
                             2 * STATION_COUNT + allowed + 2)
        self.assertGreater(unknown1["rate_limited"], unknown0["rate_limited"])
        # not one error to a spoofed address; decisions only to the few
        # junk requests the shared bucket let through
        self.assertEqual(seen["errors_to_others"], 0, seen)
        self.assertLessEqual(seen["to_others"], junk_verifies + 2, seen)
        self.assertGreater(after["lane_1"]["unanswered"] +
                           after["lane_2"]["unanswered"] +
                           unknown1["unanswered"],
                           before["lane_1"]["unanswered"] +
                           before["lane_2"]["unanswered"] +
                           unknown0["unanswered"])
        print(f"\nflood: {sent}\nwatch: {seen}\nstations after: "
              f"{json.dumps(after)}", file=sys.stderr)

    # -- 8 ---------------------------------------------------------------
    def test_8_station_metrics(self):
        """Each station's counters on the Prometheus page as well."""
        code = ("import urllib.request;"
                "print(urllib.request.urlopen('http://127.0.0.1:9102/metrics',"
                " timeout=5).read().decode())")
        page = self.gw.ns(sys.executable, "-c", code).stdout
        rows = {}
        for line in page.splitlines():
            if line.startswith("kpgate_station_requests_total{"):
                label, value = line.rsplit(" ", 1)
                rows[label] = float(value)
        self.assertGreater(rows.get('kpgate_station_requests_total{station="lane-1"}', 0), 0,
                           rows)
        self.assertIn('kpgate_station_requests_total{station="_unknown"}', rows)

    # -- 9 ---------------------------------------------------------------
    def test_9_clean_shutdown(self):
        rc = self.gw.stop()
        self.assertEqual(rc, 0, self.gw.log_text())


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
