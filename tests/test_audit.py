#!/usr/bin/env python3
"""Integration tests: the audit log and the import confirmations, through
the real kpgate in software mode (tap device in a network namespace).

- records: in each mode (async, written, synced) every answer a station
  received has its record with the same decision, the log's counts match
  /kpgate/stats, the chain verifies, and each accepted certificate has one
  import confirmation that kpgate-authority verifies, naming its record.
- kill9: kpgate in `written` mode is killed with SIGKILL during load, 20
  times (a torn tail is added after some kills, as a crash inside a write
  would leave it); after every kill the chain verifies up to at most a torn
  tail, every restart cuts it, and at the end every reply any station
  received has its record.
- synced: strace follows kpgate; every reply written to the tap device
  comes after an fdatasync of the log that returned after the write of
  its record. The same analysis of a `written` run finds replies sent
  before any fdatasync, so the method can tell the two apart.
- backpressure: the writer's writes are slowed (strace delay injection)
  with held_max 16: requests beyond the cap are dropped and counted
  audit_backpressure, and every reply that left still has its record.

Each test ends within 120 s; meson runs them one at a time.
usage: test_audit.py BUILD_DIR [unittest names]
"""
import json
import os
import random
import re
import shutil
import signal
import struct
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
import station as stationlib  # noqa: E402

BUILD = None
PKI = None              # the demo PKI, made once for all tests
CERTS = ("genuine.kpc", "genuine-bw.kpc", "genuine-ca.kpc", "forged.kpc",
         "expired.kpc", "revoked.kpc", "russian.kpc")
DECISION = {0: "none", 1: "accept", 2: "refer", 3: "reject"}
UDP_PORT = 7102


def setUpModule():
    global PKI
    PKI = tempfile.mkdtemp(prefix="kpgate-audit-")
    make_demo_pki(BUILD, PKI)
    subprocess.run([tool("kpgate-authority"), "keygen", "--alg", "ed25519",
                    "--out", os.path.join(PKI, "checkpoint")], check=True,
                   timeout=30, capture_output=True)


def tearDownModule():
    shutil.rmtree(PKI, ignore_errors=True)
    # DPDK's runtime directories of the gateways these tests ran
    for kind in "rksb":
        shutil.rmtree(f"/var/run/dpdk/kpga{kind}{os.getpid()}", ignore_errors=True)


def tool(name):
    return os.path.join(BUILD, "tools", name)


def path(name):
    return os.path.join(PKI, name)


def write_conf(name, audit):
    """The demo config plus an audit group; returns its path."""
    with open(path("kpgate.conf")) as f:
        base = f.read()
    conf = path(name)
    with open(conf, "w") as f:
        f.write(base + "audit: {\n" +
                "".join(f"  {k} = {json.dumps(v)};\n" for k, v in audit.items()) +
                "};\n")
    return conf


def audit_verify(log):
    r = subprocess.run([tool("kpgate-audit"), "verify", log, "--json"],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, json.loads(r.stdout)


def audit_records(log):
    """Decision records of the log: {(station, request id): record}."""
    r = subprocess.run([tool("kpgate-audit"), "show", log, "--json"],
                       capture_output=True, text=True, timeout=60)
    out = {}
    for line in r.stdout.splitlines():
        rec = json.loads(line)
        if rec["type"] == "decision":
            out[(rec["station"], int(rec["request_id"]))] = rec
    return out


# station.py, with sends and receives that outlive the gateway: after a
# kill -9 its tap device is gone and the kernel refuses the datagrams; the
# station keeps its pace and reports what was answered before.
TOLERANT_STATION = """
import runpy, socket, sys
class Socket(socket.socket):
    def send(self, *a):
        try:
            return super().send(*a)
        except OSError:
            return 0
    def recv(self, *a):
        try:
            return super().recv(*a)
        except BlockingIOError:
            raise
        except OSError:
            raise BlockingIOError()
socket.socket = Socket
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_station(gw, station, count, rate, wait=2.0, first_id=1, certs=CERTS):
    r = gw.ns(sys.executable, "-c", TOLERANT_STATION,
              os.path.join(HERE, "station.py"), GW4,
              *[path(c) for c in certs], "--count", str(count), "--rate",
              str(rate), "--wait", str(wait), "--station", station,
              "--first-id", str(first_id), timeout=90)
    return json.loads(r.stdout)


def settle(gw, timeout=10):
    """Waits until the writer has written everything the workers gave it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        a = gw.telemetry("/kpgate/audit")
        if a["backlog"] == 0 and a["held"] == 0:
            return a
        time.sleep(0.05)
    raise AssertionError(f"audit backlog not written in {timeout} s: {a}")


def writer_tid(pid):
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            if f.read().strip() == "kpg-audit":
                return int(tid)
    raise AssertionError("no kpg-audit thread in kpgate")


class RecordsTest(unittest.TestCase):
    """Every answer has its record; counts match; confirmations verify."""

    def test_every_answer_recorded_each_mode(self):
        for mode in ("async", "written", "synced"):
            with self.subTest(mode=mode):
                self.one_mode(mode)

    def one_mode(self, mode):
        log = path(f"audit-{mode}.log")
        confdir = path(f"confirmations-{mode}")
        conf = write_conf(f"kpgate-{mode}.conf", {
            "file": f"audit-{mode}.log", "mode": mode,
            "confirmations": f"confirmations-{mode}/",
            "checkpoint_key": "checkpoint.key"})
        with Gateway(BUILD, conf, f"kpgar{os.getpid()}",
                     log=path(f"kpgate-{mode}.log")) as gw:
            gw.start()
            out = run_station(gw, f"rec-{mode}", 1400, 1400)
            rc, bad = gw.scan("--raw", path("malformed.req"))
            self.assertEqual(bad.get("error"), "malformed_request", bad)
            settle(gw)
            stats = gw.telemetry("/kpgate/stats")
            self.assertEqual(gw.stop(), 0, gw.log_text())

        self.assertEqual(out["answered"], out["sent"])
        rc, v = audit_verify(log)
        self.assertEqual(rc, 0, v)
        self.assertEqual(v["status"], "intact")
        # The log holds exactly the answers the gateway counted.
        self.assertEqual(v["decisions"], stats["answered"], (v, stats))
        for d in ("accept", "refer", "reject"):
            self.assertEqual(v["by_decision"][d], stats[d], d)
        self.assertEqual(v["by_decision"]["error"], sum(stats["errors"].values()))
        self.assertEqual(v["missing"], 0)
        recs = audit_records(log)
        for rid, (decision, error, _) in out["answers"].items():
            rec = recs.get((f"rec-{mode}", int(rid)))
            self.assertIsNotNone(rec, f"answer to request {rid} has no record")
            self.assertEqual(rec["decision"], DECISION[decision], rid)
        self.check_confirmations(confdir, recs, f"rec-{mode}")

    def check_confirmations(self, confdir, recs, station):
        accepted = {r["certificate"] for (st, _), r in recs.items()
                    if st == station and r["decision"] == "accept"}
        files = sorted(os.listdir(confdir))
        self.assertEqual(files, sorted(f"{n}.kpic" for n in accepted))
        for name in files:
            r = subprocess.run([tool("kpgate-authority"), "verify-confirmation",
                                "--pub", path("checkpoint.pub"),
                                os.path.join(confdir, name)],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            c = json.loads(r.stdout)
            number = name[:-len(".kpic")]
            src = {"ZA": "genuine.json", "BW": "genuine-bw.json",
                   "CA": "genuine-ca.json", "RU": "russian.json"}[number[:2]]
            with open(path(src)) as f:
                cert = json.load(f)
            self.assertEqual(c["certificate_number"], cert["number"])
            self.assertEqual(c["issuing_participant"], cert["issuing_participant"])
            self.assertEqual(c["parcels"], cert["parcels"])
            self.assertEqual(c["carats"], cert["lines"][0]["carats"])
            self.assertEqual(c["importer"]["name"], cert["importer"]["name"])
            self.assertEqual(c["exporter"]["name"], cert["exporter"]["name"])
            self.assertEqual(c["checkpoint"], "BE-ANR-DEMO")
            # It names the decision's record, which accepted it.
            rec = recs[(c["station"], int(c["request_id"]))]
            self.assertEqual((rec["lcore"], rec["seq"]),
                             (c["audit_lcore"], c["audit_seq"]))
            self.assertEqual(rec["decision"], "accept")
            self.assertEqual(rec["certificate"], number)
            # Any byte changed: refused.
            with open(os.path.join(confdir, name), "rb") as f:
                data = bytearray(f.read())
            data[len(data) // 2] ^= 1
            forged = os.path.join(PKI, "forged.kpic")
            with open(forged, "wb") as f:
                f.write(data)
            r = subprocess.run([tool("kpgate-authority"), "verify-confirmation",
                                "--pub", path("checkpoint.pub"), forged],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 1, r.stdout)


class KillTest(unittest.TestCase):
    """kill -9 during load, 20 times, in written mode."""

    KILLS = 20

    def test_kill9_written(self):
        log = path("audit-kill.log")
        conf = write_conf("kpgate-kill.conf", {"file": "audit-kill.log",
                                               "mode": "written"})
        rng = random.Random(20261124)
        received = {}          # (station, request id) -> decision
        torn_added = torn_cut = unclean = 0
        gw = Gateway(BUILD, conf, f"kpgak{os.getpid()}",
                     log=path("kpgate-kill-0.log"))
        try:
            for i in range(self.KILLS):
                gw.log_path = path(f"kpgate-kill-{i}.log")
                gw.start(fresh_netns=(i == 0))
                text = gw.log_text()
                torn_cut += "torn tail" in text
                unclean += "did not stop cleanly" in text
                out = {}
                st = f"kill-{i}"
                t = threading.Thread(target=lambda: out.update(
                    run_station(gw, st, 3000, 3000, wait=1.0)))
                t.start()
                # under load: once answers flow, at a random moment
                deadline = time.monotonic() + 20
                while (gw.telemetry("/kpgate/stats")["answered"] == 0 and
                       time.monotonic() < deadline):
                    time.sleep(0.02)
                time.sleep(rng.uniform(0.1, 0.5))
                gw.proc.send_signal(signal.SIGKILL)
                gw.proc.wait(timeout=10)
                gw.log.close()
                t.join(timeout=60)
                self.assertFalse(t.is_alive())
                self.assertGreater(out["answered"], 0, f"kill {i}: no answer")
                for rid, (decision, _, _) in out["answers"].items():
                    received[(st, int(rid))] = DECISION[decision]
                rc, v = audit_verify(log)
                # A kill may tear the last write, never break the chain.
                self.assertIn(v["status"], ("intact", "torn"), (i, v))
                if i % 5 == 4 and v["status"] == "intact":
                    self.tear_tail(log)
                    torn_added += 1
            gw.log_path = path("kpgate-kill-last.log")
            gw.start(fresh_netns=False)
            torn_cut += "torn tail" in gw.log_text()
            unclean += "did not stop cleanly" in gw.log_text()
            self.assertEqual(gw.stop(), 0, gw.log_text())
        finally:
            gw.kill()

        rc, v = audit_verify(log)
        self.assertEqual(rc, 0, v)
        self.assertEqual(v["opens"], self.KILLS + 1)
        recs = audit_records(log)
        missing = [k for k in received if k not in recs]
        self.assertEqual(missing, [], f"{len(missing)} replies without a record")
        for k, d in received.items():
            self.assertEqual(recs[k]["decision"], d, k)
        self.assertGreaterEqual(torn_cut, torn_added)
        self.assertEqual(unclean, self.KILLS)
        print(f"\n{self.KILLS} kills in written mode: {len(received)} replies "
              f"received, {v['decisions']} records, every reply recorded; "
              f"{torn_added} torn tails added, {torn_cut} cut on restart; "
              f"chain intact, {v['missing']} seqs missing")

    @staticmethod
    def tear_tail(log):
        """Appends the first part of a copy of the last record: what a
        crash inside a write leaves (kill -9 rarely manages it)."""
        r = subprocess.run([tool("kpgate-audit"), "show", log, "--json"],
                           capture_output=True, text=True, timeout=60)
        last = json.loads(r.stdout.splitlines()[-1])
        with open(log, "rb") as f:
            f.seek(last["offset"])
            rec = f.read()
        with open(log, "ab") as f:
            f.write(rec[:max(1, len(rec) // 2)])


def unescape(s):
    return bytes(int(h, 16) for h in re.findall(r"\\x([0-9a-f]{2})", s))


STRACE_LINE = re.compile(r"^(\d+)\s+(.*)$")
FD_PATH = re.compile(r"^(\w+)\(\d+<((?:\\x[0-9a-f]{2})+)>")


def reply_ids(frame):
    """Request ids of the ScanResponses in an IPv4 UDP frame from 7102."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
        return None
    ihl = (frame[14] & 15) * 4
    udp = 14 + ihl
    if struct.unpack("!H", frame[udp:udp + 2])[0] != UDP_PORT:
        return None
    ans = stationlib.answer(frame[udp + 8:])
    return ans[0] if ans else None


def record_ids(data):
    """Request ids of the DECISION records in bytes written to the log."""
    ids, off = [], 0
    while off + 8 <= len(data):
        ln, _, typ = struct.unpack_from("<IHH", data, off)
        if ln < 72 or off + ln > len(data):
            break
        if typ == 4:
            ids.append(struct.unpack_from("<Q", data, off + 60)[0])
        off += ln
    return ids


def replies_before_sync(trace, logname):
    """Parses `strace -f -xx -y` output; returns (replies seen, replies
    that left before an fdatasync of the log returned after the write of
    their record)."""
    written_at = {}        # request id -> line of the write of its record
    sync_done = []         # lines where an fdatasync of the log returned
    pending = set()        # pids inside an fdatasync of the log
    replies = []           # (line, request id)
    for n, line in enumerate(trace):
        m = STRACE_LINE.match(line)
        if not m:
            continue
        pid, rest = m.groups()
        if rest.startswith("<... fdatasync resumed>"):
            if pid in pending:
                pending.discard(pid)
                if rest.rstrip().endswith("= 0"):
                    sync_done.append(n)
            continue
        f = FD_PATH.match(rest)
        if not f:
            continue
        call, fdpath = f.group(1), unescape(f.group(2)).decode(errors="replace")
        if call == "fdatasync" and fdpath.endswith(logname):
            if "<unfinished" in rest:
                pending.add(pid)
            elif rest.rstrip().endswith("= 0"):
                sync_done.append(n)
        elif call == "pwrite64" and fdpath.endswith(logname):
            data = unescape(rest.split(", ", 1)[1].split('", ', 1)[0])
            for rid in record_ids(data):
                written_at.setdefault(rid, n)
        elif call == "writev" and "/dev/net/tun" in fdpath:
            iovs = re.findall(r'iov_base="((?:\\x[0-9a-f]{2})*)"', rest)
            if len(iovs) >= 2:
                rid = reply_ids(unescape(iovs[1]))
                if rid is not None:
                    replies.append((n, rid))
    early = []
    for n, rid in replies:
        w = written_at.get(rid)
        ok = w is not None and any(w < s < n for s in sync_done)
        if not ok:
            early.append(rid)
    return replies, early


@unittest.skipUnless(shutil.which("strace"), "needs strace (tools/install-deps.sh)")
class SyncedTest(unittest.TestCase):
    """synced: no reply leaves before its record's fdatasync returned."""

    def traced_run(self, mode, count=1000, rate=1000):
        logname = f"audit-trace-{mode}.log"
        conf = write_conf(f"kpgate-trace-{mode}.conf",
                          {"file": logname, "mode": mode})
        trace = path(f"strace-{mode}.txt")
        with Gateway(BUILD, conf, f"kpgas{os.getpid()}",
                     log=path(f"kpgate-trace-{mode}.log")) as gw:
            gw.start()
            pid = gw.proc.pid
            st = subprocess.Popen(
                ["strace", "-f", "-p", str(pid), "-qq", "-xx", "-y",
                 "-s", "65536", "-e", "signal=none",
                 "-e", "trace=pwrite64,fdatasync,writev", "-o", trace],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                # every thread attached before the first request
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    tracers = []
                    for tid in os.listdir(f"/proc/{pid}/task"):
                        with open(f"/proc/{pid}/task/{tid}/status") as f:
                            tracers.append(re.search(r"TracerPid:\s+(\d+)",
                                                     f.read()).group(1))
                    if all(t != "0" for t in tracers):
                        break
                    time.sleep(0.1)
                out = run_station(gw, f"trace-{mode}", count, rate,
                                  certs=CERTS[:3])
                audit = settle(gw)
            finally:
                st.send_signal(signal.SIGINT)
                st.wait(timeout=30)
            self.assertEqual(gw.stop(), 0, gw.log_text())
        with open(trace, errors="replace") as f:
            lines = f.read().splitlines()
        replies, early = replies_before_sync(lines, logname)
        return out, audit, replies, early

    def test_no_reply_before_its_fdatasync(self):
        out, audit, replies, early = self.traced_run("synced")
        self.assertEqual(out["answered"], out["sent"])
        # Every reply the station got was seen leaving, and none left
        # before an fdatasync that covered its record had returned.
        seen = {rid for _, rid in replies}
        self.assertTrue({int(r) for r in out["answers"]} <= seen,
                        "replies missing from the trace")
        self.assertEqual(early, [], f"{len(early)} replies before their fdatasync")
        self.assertGreater(audit["syncs"], 0)
        # The method tells the modes apart: written sends at once.
        out_w, audit_w, replies_w, early_w = self.traced_run("written")
        self.assertEqual(audit_w["syncs"], 0)
        self.assertGreater(len(early_w), 0.9 * len(replies_w))
        print(f"\nsynced: {len(replies)} replies traced, all after their "
              f"record's fdatasync ({audit['syncs']} fdatasyncs for "
              f"{audit['records_written']} records); written: "
              f"{len(early_w)} of {len(replies_w)} before any fdatasync")


@unittest.skipUnless(shutil.which("strace"), "needs strace (tools/install-deps.sh)")
class BackpressureTest(unittest.TestCase):
    """A slow disk: held replies stop at held_max, the rest is dropped and
    counted, and nothing leaves without its record."""

    def test_slow_writer_backpressure(self):
        log = path("audit-slow.log")
        conf = write_conf("kpgate-slow.conf", {"file": "audit-slow.log",
                                               "mode": "written",
                                               "held_max": 16, "batch": 4})
        with Gateway(BUILD, conf, f"kpgab{os.getpid()}",
                     log=path("kpgate-slow.log")) as gw:
            gw.start()
            tid = writer_tid(gw.proc.pid)
            # every write of the log takes 20 ms more: a disk this slow
            # writes ~200 records a second with batches of 4
            st = subprocess.Popen(
                ["strace", "-p", str(tid), "-qq", "-e", "trace=pwrite64",
                 "-e", "inject=pwrite64:delay_enter=20000", "-o", "/dev/null"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(1.0)
                out = run_station(gw, "slow", 1500, 1500, wait=3.0,
                                  certs=CERTS[:3])
            finally:
                st.send_signal(signal.SIGINT)
                st.wait(timeout=30)
            audit = settle(gw)
            stats = gw.telemetry("/kpgate/stats")
            self.assertEqual(gw.stop(), 0, gw.log_text())
        self.assertGreater(audit["audit_backpressure"], 0, audit)
        self.assertLess(out["answered"], out["sent"])
        self.assertEqual(audit["audit_backpressure"] + out["answered"], out["sent"],
                         (audit, out["answered"]))
        rc, v = audit_verify(log)
        self.assertEqual(rc, 0, v)
        self.assertEqual(v["decisions"], stats["answered"])
        recs = audit_records(log)
        for rid in out["answers"]:
            self.assertIn(("slow", int(rid)), recs)
        print(f"\nslow disk, held_max 16: {out['answered']} of {out['sent']} "
              f"answered, {audit['audit_backpressure']} dropped and counted "
              f"audit_backpressure, every reply recorded")


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
