#!/usr/bin/env python3
"""The shared ledger through two real kpgate gateways and a real Redis.

Debian's redis-server runs as a child of this test, listening only on a
unix socket in the test's directory (--port 0: nothing on any network).
Each gateway runs in a network namespace of its own, and a namespace
cannot reach another's loopback, but a unix socket is a file: both
gateways' duplicate plugins reach Redis through redis_socket.

Gateway A is checkpoint BE-ANR-A, gateway B BE-ZEE-B; both run validity,
participant, physical and duplicate (store = "redis"), in idle mode.

Probes: a request whose station counted 99 parcels is referred by the
physical plugin, so it is never accepted and consumes nothing, but the
duplicate plugin's verdict in the answer says what that gateway's ledger
knows. That is how the window is measured without disturbing it.

Parts (usage: test_ledger.py BUILD_DIR [TestClass]):
  SharedTest      accepted at A, refused at B and the other way round;
                  the window from A's acceptance to B's refusal, printed.
  LocalModeTest   on_unreachable = "local": Redis killed and started again
                  (empty) under traffic (tests/station.py): every request
                  answered, local-only decisions counted, and afterwards
                  a certificate accepted at A during the outage is refused
                  at B.
  ReferModeTest   on_unreachable = "refer": certificates A does not know
                  are referred while Redis is away; known ones still
                  refused; after the restart new ones pass again.
"""
import ctypes
import json
import os
import shutil
import signal
import socket
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
from station import field, varint, read_varint  # noqa: E402
from test_golden import certificate  # noqa: E402

BUILD = None
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
FLEET_KEY = "8f1c3a5e7b9d0f2143658709badcfe1032547698badcfe1002468ace13579bdf"

POLICY = """
plugins = (
  { name = "validity"; },
  { name = "participant"; },
  { name = "physical"; },
  { name = "duplicate";
    stations = [ "ANR-1" ];
    state_file = "%(state)s";
    store = "redis";
    redis_socket = "%(sock)s";
    redis_prefix = "kpgate-test";
    fleet_key_file = "%(key)s";
    redis_retry_max_ms = 500;
    on_unreachable = "%(mode)s"; }
);
"""

ACCEPT, REFER, REJECT = 1, 2, 3


# ---- a UDP socket in a gateway's network namespace ----------------------

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def socket_in(netns, host=GW4, port=7102):
    """A connected UDP socket made inside netns: setns() moves only the
    calling thread, so a short-lived thread makes it, and the socket stays
    in that namespace whoever uses it."""
    out = {}

    def make():
        fd = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                out["error"] = OSError(ctypes.get_errno(), "setns")
                return
        finally:
            os.close(fd)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((host, port))
        out["sock"] = s

    t = threading.Thread(target=make)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["sock"]


def request(rid, station, cert, parcels=None):
    body = (field(1, 0, varint(rid)) + field(2, 2, station.encode()) +
            field(3, 2, cert))
    if parcels is not None:
        body += field(4, 2, field(1, 0, varint(parcels)))
    body += field(5, 0, varint(int(time.time())))
    return b"KP\x01\x01" + body


def fields(buf):
    """(number, value) of each field of a protobuf message."""
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = read_varint(buf, i)
        elif wire == 2:
            ln, i = read_varint(buf, i)
            val, i = buf[i:i + ln], i + ln
        else:
            raise ValueError(f"wire type {wire}")
        yield num, val


def answer(datagram):
    """request id, decision and {check: (decision, reason)} of an answer."""
    if datagram[:2] != b"KP" or datagram[3] != 2:
        raise ValueError("not a scan response")
    rid = decision = 0
    verdicts = {}
    for num, val in fields(datagram[4:]):
        if num == 1:
            rid = val
        elif num == 2:
            decision = val
        elif num == 3:
            v = dict(fields(val))
            verdicts[v[1].decode()] = (v.get(2, 0), v.get(3, 0))
    return rid, decision, verdicts


class Station:
    """One station's socket into a gateway: ask and wait for the answer."""

    def __init__(self, gw, station="ANR-1"):
        self.sock = socket_in(gw.netns)
        self.sock.settimeout(2.0)
        self.station = station
        self.rid = 1

    def ask(self, cert, parcels=None):
        self.rid += 1
        self.sock.send(request(self.rid, self.station, cert, parcels))
        while True:
            rid, decision, verdicts = answer(self.sock.recv(4096))
            if rid == self.rid:
                return decision, verdicts

    def probe(self, cert):
        """What the duplicate plugin says of cert, consuming nothing."""
        decision, verdicts = self.ask(cert, parcels=99)
        assert decision != ACCEPT, verdicts
        return verdicts.get("duplicate", (0, 0))[1]

    def close(self):
        self.sock.close()


# ---- the fleet: Redis, two gateways --------------------------------------

class Fleet(unittest.TestCase):
    MODE = "local"

    def setUp(self):
        if not os.access(REDIS, os.X_OK):
            self.skipTest("redis-server is not installed")
        self.d = tempfile.mkdtemp(prefix="kpgate-ledger-")
        self.sock = os.path.join(self.d, "redis.sock")
        self.redis = None
        self.gws = []
        make_demo_pki(BUILD, self.d)
        with open(os.path.join(self.d, "fleet.key"), "w") as f:
            f.write(FLEET_KEY + "\n")
        self.start_redis()

    def tearDown(self):
        for gw in self.gws:
            gw.kill()
        self.stop_redis()
        shutil.rmtree(self.d, ignore_errors=True)

    def start_redis(self):
        self.redis = subprocess.Popen(
            [REDIS, "--port", "0", "--unixsocket", self.sock,
             "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", self.d],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if self.redis_cli("PING") == "PONG":
                return
            time.sleep(0.02)
        self.fail("redis-server did not answer")

    def stop_redis(self):
        """Killed: no persistence, so a restart has lost everything."""
        if self.redis and self.redis.poll() is None:
            self.redis.send_signal(signal.SIGKILL)
            self.redis.wait(timeout=10)
        self.redis = None

    def redis_cli(self, *args):
        r = subprocess.run(["redis-cli", "-s", self.sock, *args],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip()

    def gateway(self, tag, checkpoint):
        conf = os.path.join(self.d, f"kpgate-{tag}.conf")
        with open(os.path.join(self.d, "kpgate.conf")) as f:
            base = f.read()
        base = base.replace('checkpoint = "BE-ANR-DEMO"',
                            f'checkpoint = "{checkpoint}"')
        with open(conf, "w") as f:
            f.write(base + POLICY % {
                "state": os.path.join(self.d, f"{tag}.ledger"),
                "sock": self.sock, "key": os.path.join(self.d, "fleet.key"),
                "mode": self.MODE})
        gw = Gateway(BUILD, conf, f"kpgl{tag}{os.getpid()}",
                     log=os.path.join(self.d, f"kpgate-{tag}.log"))
        self.gws.append(gw)
        return gw.start()

    def certs(self, prefix, n):
        """n new certificates of Botswana (Ed25519), numbered prefix-i."""
        auth = os.path.join(BUILD, "tools", "kpgate-authority")
        out = []
        for i in range(n):
            js = os.path.join(self.d, f"{prefix}-{i}.json")
            kpc = os.path.join(self.d, f"{prefix}-{i}.kpc")
            with open(js, "w") as f:
                json.dump(certificate("bw", {"number": f"BW-{prefix}-{i:06d}"}), f)
            subprocess.run([auth, "issue", "--key",
                            os.path.join(self.d, "bw.key"), "--in", js,
                            "--out", kpc], check=True, capture_output=True,
                           timeout=30)
            with open(kpc, "rb") as f:
                out.append((kpc, f.read()))
        return out

    @staticmethod
    def ledger(gw):
        return gw.telemetry("/kpgate/plugins")["duplicate"]

    def wait_for(self, what, cond, timeout=15):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return
            time.sleep(0.05)
        self.fail(f"not within {timeout} s: {what}")

    def scan(self, gw, kpc):
        rc, a = gw.scan("-s", "ANR-1", kpc)
        dup = [v for v in a.get("verdicts", []) if v["check"] == "duplicate"]
        return a.get("decision"), dup[0] if dup else {}


class SharedTest(Fleet):
    def test_shared_ledger_and_window(self):
        a = self.gateway("a", "BE-ANR-A")
        b = self.gateway("b", "BE-ZEE-B")
        self.assertEqual(self.ledger(a)["fleet_up"], 1)
        self.assertEqual(self.ledger(b)["fleet_up"], 1)
        certs = self.certs("S", 82)

        # accepted at A, refused at B, naming where it was accepted (B is
        # asked with probes until it knows: a scan would consume it)
        sa, sb = Station(a), Station(b)
        decision, dup = self.scan(a, certs[0][0])
        self.assertEqual((decision, dup.get("reason")), ("accept", 1800), dup)
        self.wait_for("B knows", lambda: sb.probe(certs[0][1]) == 1802)
        decision, dup = self.scan(b, certs[0][0])
        self.assertEqual((decision, dup.get("reason")), ("reject", 1802), dup)
        self.assertIn("at BE-ANR-A/ANR-1", dup["detail"])
        # and the other way round
        decision, dup = self.scan(b, certs[1][0])
        self.assertEqual(decision, "accept", dup)
        self.wait_for("A knows", lambda: sa.probe(certs[1][1]) == 1802)

        # The window: from sending a new certificate to A until the first
        # probe at B that A's consumption is refused; probes follow each
        # other as fast as B answers (about a round trip of idle mode).
        # Back to back (A's owner polls every 50 us), then 20 ms apart
        # (it idles, sleeping 1 ms).
        probes_before = 0
        for name, batch, gap in (("back to back", certs[2:42], 0),
                                 ("20 ms apart", certs[42:82], 0.02)):
            windows = []
            for kpc, cert in batch:
                self.assertEqual(sb.probe(cert), 1800)
                t0 = time.monotonic()
                sa.rid += 1
                sa.sock.send(request(sa.rid, "ANR-1", cert))
                while sb.probe(cert) != 1802:
                    probes_before += 1
                    self.assertLess(time.monotonic() - t0, 5.0,
                                    "B never learnt it")
                windows.append(time.monotonic() - t0)
                while True:                 # A's answer, long arrived
                    rid, decision, verdicts = answer(sa.sock.recv(4096))
                    if rid == sa.rid:
                        break
                self.assertEqual(decision, ACCEPT, verdicts)
                time.sleep(gap)
            windows.sort()
            n = len(windows)
            print(f"window, request sent to A -> first refusal at B, {name} "
                  f"({n} certificates, two gateways in idle mode): p50 "
                  f"{windows[n // 2] * 1e3:.2f} ms, p90 "
                  f"{windows[n * 9 // 10] * 1e3:.2f} ms, max "
                  f"{windows[-1] * 1e3:.2f} ms")
        print(f"{probes_before} probes at B answered 'not consumed' inside "
              "the windows")
        sa.close()
        sb.close()

        # B may refuse before A's thread has read Redis's last reply
        self.wait_for("A's pushes counted", lambda: self.ledger(a)["pushed"] == 81)
        la, lb = self.ledger(a), self.ledger(b)
        self.assertEqual(lb["pulled"], 81, lb)      # certs[0] and 80 more
        self.assertEqual(la["fleet_raced"] + lb["fleet_raced"], 0)
        self.assertEqual(la["redis_unreachable"] + lb["redis_unreachable"], 0)
        self.assertEqual(int(self.redis_cli("XLEN", "kpgate-test:stream")), 82)
        for gw in (a, b):
            self.assertEqual(gw.stop(), 0, gw.log_text())


class LocalModeTest(Fleet):
    MODE = "local"

    def test_outage_local(self):
        a = self.gateway("a", "BE-ANR-A")
        b = self.gateway("b", "BE-ZEE-B")
        traffic = self.certs("T", 20)
        fresh = self.certs("L", 3)
        out = {}

        def station():
            # ~10 s of a station scanning at A: consumed once, then refused
            r = a.ns(sys.executable, os.path.join(HERE, "station.py"), GW4,
                     *[k for k, _ in traffic], "--count", "2000", "--rate",
                     "200", "--wait", "5", "--station", "ANR-9", timeout=60)
            out.update(json.loads(r.stdout))

        t = threading.Thread(target=station)
        t.start()
        sa, sb = Station(a), Station(b)
        time.sleep(2)
        self.stop_redis()
        self.wait_for("both out of step", lambda: self.ledger(a)["fleet_up"] == 0
                      and self.ledger(b)["fleet_up"] == 0)
        # judged on the local ledger alone, and said so
        self.assertEqual(sa.probe(fresh[1][1]), 1806)
        decision, dup = self.scan(a, fresh[0][0])
        self.assertEqual((decision, dup.get("reason")), ("accept", 1806), dup)
        self.assertEqual(sb.probe(fresh[0][1]), 1806)    # B cannot know
        time.sleep(2)
        self.start_redis()                               # empty
        self.wait_for("both in step", lambda: self.ledger(a)["fleet_up"] == 1
                      and self.ledger(b)["fleet_up"] == 1)
        # converged: consumed at A while Redis was away, refused at B
        self.wait_for("B refuses", lambda: sb.probe(fresh[0][1]) == 1802)
        decision, dup = self.scan(b, fresh[0][0])
        self.assertEqual(decision, "reject")
        self.assertIn("at BE-ANR-A/ANR-1", dup["detail"])
        self.assertEqual(sb.probe(fresh[2][1]), 1800)
        t.join(timeout=60)
        self.assertFalse(t.is_alive(), "station did not finish")
        sa.close()
        sb.close()

        self.assertEqual(out["answered"], out["sent"],
                         f"{out['sent'] - out['answered']} never answered")
        decisions = {}
        for rid, (decision, error, verdicts) in out["answers"].items():
            self.assertEqual(error, 0, f"request {rid}")
            decisions[decision] = decisions.get(decision, 0) + 1
        self.assertEqual(decisions.get(ACCEPT), len(traffic), decisions)
        la, lb = self.ledger(a), self.ledger(b)
        self.assertGreaterEqual(la["local_only_decisions"], 2, la)
        self.assertGreaterEqual(lb["local_only_decisions"], 1, lb)
        self.assertGreaterEqual(la["redis_unreachable"], 1, la)
        self.assertGreaterEqual(la["fleet_sessions"], 2, la)
        self.assertEqual(la["push_backlog"], 0, la)
        # Redis has the whole fleet's ledger again, from the gateways
        self.wait_for("Redis refilled", lambda: int(self.redis_cli(
            "EVAL", "return #redis.call('KEYS', ARGV[1])", "0",
            "kpgate-test:c:*")) == len(traffic) + 1)
        print(f"{out['sent']} requests at {out['seconds']} s, all answered "
              f"across a Redis outage: {decisions}; A: "
              f"local_only_decisions {la['local_only_decisions']}, "
              f"redis_unreachable {la['redis_unreachable']}, sessions "
              f"{la['fleet_sessions']}")
        for gw in (a, b):
            self.assertEqual(gw.stop(), 0, gw.log_text())


class ReferModeTest(Fleet):
    MODE = "refer"

    def test_outage_refer(self):
        a = self.gateway("a", "BE-ANR-A")
        certs = self.certs("R", 3)
        decision, dup = self.scan(a, certs[0][0])
        self.assertEqual(decision, "accept", dup)
        sa = Station(a, "ANR-9")
        self.stop_redis()
        self.wait_for("out of step", lambda: self.ledger(a)["fleet_up"] == 0)
        # new: referred for inspection; known: still refused
        decision, dup = self.scan(a, certs[1][0])
        self.assertEqual((decision, dup.get("reason")), ("refer", 1805), dup)
        self.assertEqual(dup.get("detail"), "fleet ledger unreachable: inspect")
        self.assertEqual(sa.probe(certs[0][1]), 1802)
        referred = self.ledger(a)["unreachable_referrals"]
        self.assertGreaterEqual(referred, 1)
        self.start_redis()
        self.wait_for("in step", lambda: self.ledger(a)["fleet_up"] == 1)
        decision, dup = self.scan(a, certs[1][0])
        self.assertEqual((decision, dup.get("reason")), ("accept", 1800), dup)
        sa.close()
        print(f"referred while Redis was away: {referred}; "
              f"{self.ledger(a)}")
        self.assertEqual(a.stop(), 0, a.log_text())


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
