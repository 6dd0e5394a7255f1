#!/usr/bin/env python3
"""Integration tests: kpgate-shipper between the real kpgate's audit log and
Debian's real PostgreSQL server (started here on a unix socket in a temp
directory, as the postgres user, and stopped at the end).

- ShipKillTest: kpgate answers station traffic in `written` mode while the
  shipper follows its log (batches of 50): the shipper is killed with
  SIGKILL and restarted 10 times at random moments, PostgreSQL is stopped
  and restarted under it (a SIGTERM in the outage stops it at once; a
  shipper started during the outage waits), kpgate stops and starts, and
  is killed and restarted over a torn tail it cuts. At the end the
  database holds every record of the log exactly once: same count, same
  index, offset, hash and bytes for each, every decision's fields as
  kpgate-audit shows them, and a test-only trigger proves no committed
  transaction ever carried a record a second time. The SQL chain check
  passes; SIGTERM ends the shipper with status 0.
- ShipVerifyTest: a shipped log; kpgate_verify_chain() passes, and after a
  row is tampered with (a column, a byte of the record, the record and its
  hash recomputed, a row deleted, rows cut from the end) it reports the
  break at that record; two shippers racing over one log still insert each
  record once; a shipper refuses a log altered after shipping, and a new
  log of the same gateway.

Each test ends within 120 s; meson runs them one at a time.
usage: test_shipper.py BUILD_DIR [unittest names]
"""
import hashlib
import json
import os
import pwd
import random
import shutil
import signal
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
WORK = None             # PKI, configs, logs, the database: one temp dir
PG = None
PGBIN = "/usr/lib/postgresql/15/bin"
CERTS = ("genuine.kpc", "genuine-bw.kpc", "forged.kpc", "expired.kpc",
         "revoked.kpc", "russian.kpc")
DECISION = {0: "none", 1: "accept", 2: "refer", 3: "reject"}


def tool(name):
    return os.path.join(BUILD, "tools", name)


def path(name):
    return os.path.join(WORK, name)


class Postgres:
    """A throwaway PostgreSQL cluster on a unix socket, no TCP at all."""

    PORT = 5432          # names the socket file in our own directory

    def __init__(self, top):
        self.dir = os.path.join(top, "pg")
        os.mkdir(self.dir)
        pw = pwd.getpwnam("postgres")
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")

    def run(self, *cmd, check=True):
        r = subprocess.run(["runuser", "-u", "postgres", "--",
                            os.path.join(PGBIN, cmd[0]), *cmd[1:]],
                           capture_output=True, text=True, timeout=60,
                           cwd=self.dir)
        if check and r.returncode != 0:
            raise AssertionError(f"{cmd[0]}: {r.stdout}{r.stderr}")
        return r

    def init(self):
        self.run("initdb", "-D", self.data, "-E", "UTF8", "--locale=C.UTF-8",
                 "-A", "trust", "-U", "postgres")

    def start(self):
        self.run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "30",
                 "-o", f"-c listen_addresses='' -k {self.dir} -p {self.PORT} "
                       "-c fsync=off", "start")

    def stop(self):
        self.run("pg_ctl", "-D", self.data, "-w", "-t", "30", "-m", "fast",
                 "stop", check=False)

    def conninfo(self, user):
        return f"host={self.dir} port={self.PORT} dbname=kpgate user={user}"

    def sql(self, script, user="postgres", db="kpgate"):
        """Runs statements; returns the rows of the SELECTs, '|'-separated."""
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-h", self.dir, "-p", str(self.PORT), "-U", user,
                            "-d", db, "-f", "-"], input=script,
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"psql: {r.stderr}")
        return [line.split("|") for line in r.stdout.splitlines() if line]

    def setup(self):
        """The kpgate database, its schema, and the two roles it grants."""
        self.sql("CREATE DATABASE kpgate ENCODING 'UTF8' TEMPLATE template0",
                 db="postgres")
        with open(os.path.join(TOP, "deploy", "postgres", "schema.sql")) as f:
            self.sql(f.read())
        self.sql("""
            CREATE ROLE shipper LOGIN IN ROLE kpgate_shipper;
            CREATE ROLE auditor LOGIN IN ROLE kpgate_auditor;
            -- test only: every record a committed transaction carried,
            -- inserted or not, to tell exactly once from merely idempotent
            CREATE TABLE carried (gateway_id text, rec_index bigint);
            CREATE FUNCTION carried() RETURNS trigger LANGUAGE plpgsql
                SECURITY DEFINER AS $$
            BEGIN
                INSERT INTO carried VALUES (NEW.gateway_id, NEW.rec_index);
                RETURN NEW;
            END $$;
            CREATE TRIGGER carried BEFORE INSERT ON kpgate_audit_record
                FOR EACH ROW EXECUTE FUNCTION carried();
        """)


def setUpModule():
    global WORK, PG
    if not os.path.exists(os.path.join(PGBIN, "postgres")):
        raise unittest.SkipTest("needs postgresql-15 (tools/install-deps.sh)")
    WORK = tempfile.mkdtemp(prefix="kpgate-ship-")
    os.chmod(WORK, 0o711)            # the postgres user reaches its own dir
    make_demo_pki(BUILD, WORK)
    # meson's timeout sends SIGTERM: unwind, so that the finally blocks
    # and tearDownModule stop kpgate, the shippers and the server
    signal.signal(signal.SIGTERM, on_sigterm)
    PG = Postgres(WORK)
    try:
        PG.init()
        PG.start()
        PG.setup()
    except BaseException:
        tearDownModule()
        raise


def on_sigterm(sig, frame):
    raise RuntimeError("SIGTERM (test timeout?)")


def tearDownModule():
    if PG:
        PG.stop()
    shutil.rmtree(WORK, ignore_errors=True)
    for kind in "kv":
        shutil.rmtree(f"/var/run/dpdk/kpgs{kind}{os.getpid()}", ignore_errors=True)


def write_conf(name, log):
    """The demo config with an audit log in `written` mode."""
    with open(path("kpgate.conf")) as f:
        base = f.read()
    conf = path(name)
    with open(conf, "w") as f:
        f.write(base + f'audit: {{\n  file = "{log}";\n  mode = "written";\n}};\n')
    return conf


def run_station(gw, station, count, rate, first_id=1):
    r = gw.ns(sys.executable, os.path.join(HERE, "station.py"), GW4,
              *[path(c) for c in CERTS], "--count", str(count), "--rate",
              str(rate), "--wait", "1", "--station", station,
              "--first-id", str(first_id), timeout=90)
    return json.loads(r.stdout)


def log_records(log):
    """Every intact record of the log, as kpgate-audit shows it."""
    r = subprocess.run([tool("kpgate-audit"), "show", log, "--json"],
                       capture_output=True, text=True, timeout=60)
    return [json.loads(line) for line in r.stdout.splitlines()]


def log_verify(log):
    r = subprocess.run([tool("kpgate-audit"), "verify", log, "--json"],
                       capture_output=True, text=True, timeout=60)
    return json.loads(r.stdout)


class Shipper:
    """kpgate-shipper as a child process; its stderr kept in a file."""

    def __init__(self, log, name, batch=50, poll_ms=200):
        self.args = [os.path.join(BUILD, "tools", "shipper", "kpgate-shipper"), "--log", log, "--db",
                     PG.conninfo("shipper"), "--batch", str(batch),
                     "--poll-ms", str(poll_ms)]
        self.out = path(f"{name}.stderr")
        self.proc = None
        self.starts = 0

    def start(self, *extra):
        self.starts += 1
        with open(self.out, "a") as f:
            f.write(f"--- start {self.starts}\n")
            self.proc = subprocess.Popen(self.args + list(extra), stdout=f,
                                         stderr=f, stdin=subprocess.DEVNULL)
        return self

    def once(self, log=None):
        args = list(self.args)
        if log:
            args[args.index("--log") + 1] = log
        return subprocess.run(args + ["--once"], capture_output=True,
                              text=True, timeout=60)

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)

    def term(self, timeout=5):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def text(self):
        with open(self.out) as f:
            return f.read()

    def stop_quietly(self):
        if self.proc and self.proc.poll() is None:
            self.kill()


def position(gateway):
    rows = PG.sql("SELECT next_index FROM kpgate_ship_position "
                  f"WHERE gateway_id = '{gateway}'")
    return int(rows[0][0]) if rows else 0


def wait_shipped(log, gateway, timeout=40):
    """Until the database's position is at the end of the log."""
    want = log_verify(log)["records"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if position(gateway) == want:
            return want
        time.sleep(0.2)
    raise AssertionError(f"shipped up to {position(gateway)} of {want} records "
                         f"in {timeout} s")


def verify_chain(gateway, check_fields=True):
    rows = PG.sql(f"SELECT * FROM kpgate_verify_chain('{gateway}', "
                  f"{'true' if check_fields else 'false'})", user="auditor")
    return rows[0]


class Traffic:
    """Station bursts in a thread while the gateway is up."""

    def __init__(self, gw, station):
        self.gw, self.station = gw, station
        self.sent = 0
        self.next_id = 1
        self.go = threading.Event()
        self.thread = None

    def start(self):
        self.go.set()
        self.thread = threading.Thread(target=self.loop)
        self.thread.start()

    def loop(self):
        while self.go.is_set():
            out = run_station(self.gw, self.station, 600, 600, self.next_id)
            self.next_id += 600
            self.sent += out["answered"]

    def stop(self):
        self.go.clear()
        self.thread.join(timeout=60)


class ShipKillTest(unittest.TestCase):
    """Killed, restarted, the database stopped: nothing lost, nothing twice."""

    KILLS = 10

    def test_kill_restart_outage(self):
        gateway = "BE-ANR-DEMO"
        logname = "audit-kill.log"
        log = path(logname)
        conf = write_conf("kpgate-kill.conf", logname)
        rng = random.Random(20261125)
        sh = Shipper(log, "shipper-kill")
        gw = Gateway(BUILD, conf, f"kpgsk{os.getpid()}",
                     log=path("kpgate-kill.log"))
        traffic = Traffic(gw, "ship")
        try:
            gw.start()
            sh.start()
            traffic.start()
            # SIGKILL at random moments under traffic, batches in flight
            for _ in range(self.KILLS // 2):
                time.sleep(rng.uniform(0.3, 1.2))
                sh.kill()
                sh.start()

            # PostgreSQL goes away under the running shipper ...
            time.sleep(1.0)
            PG.stop()
            time.sleep(1.0)
            # ... SIGTERM while it waits to reconnect ends it at once ...
            t0 = time.monotonic()
            self.assertEqual(sh.term(timeout=5), 0, sh.text())
            self.assertLess(time.monotonic() - t0, 3.0)
            # ... and one started during the outage waits for the server.
            sh.start()
            time.sleep(2.0)
            self.assertIsNone(sh.proc.poll(), sh.text())
            PG.start()

            for _ in range(self.KILLS // 2):
                time.sleep(rng.uniform(0.3, 1.2))
                sh.kill()
                sh.start()

            # The gateway stops cleanly (CLOSE) and starts again (OPEN) ...
            traffic.stop()
            self.assertEqual(gw.stop(), 0, gw.log_text())
            gw.log_path = path("kpgate-kill-2.log")
            gw.start()
            traffic = Traffic(gw, "ship2")
            traffic.start()
            time.sleep(2.0)
            traffic.stop()
            # ... is killed, leaving a torn tail, which its restart cuts
            # while the shipper is following the file.
            gw.proc.send_signal(signal.SIGKILL)
            gw.proc.wait(timeout=10)
            gw.log.close()
            self.tear_tail(log)
            time.sleep(0.5)
            gw.log_path = path("kpgate-kill-3.log")
            gw.start(fresh_netns=False)
            self.assertIn("torn tail", gw.log_text())
            traffic = Traffic(gw, "ship3")
            traffic.start()
            time.sleep(2.0)
            traffic.stop()
            self.assertEqual(gw.stop(), 0, gw.log_text())

            shipped = wait_shipped(log, gateway)
            self.assertEqual(sh.term(), 0, sh.text())
        finally:
            if traffic.thread and traffic.thread.is_alive():
                traffic.stop()
            sh.stop_quietly()
            gw.kill()

        v = log_verify(log)
        self.assertEqual(v["status"], "intact", v)
        self.assertEqual(shipped, v["records"])
        self.check_same(gateway, log)
        text = sh.text()
        self.assertIn("database:", text)           # it saw the outage
        self.assertIn("connected to the database", text)
        print(f"\n{v['records']} records ({v['decisions']} decisions, "
              f"{v['opens']} starts) shipped across {self.KILLS} SIGKILLs, a "
              f"database outage, a clean gateway restart and a torn tail cut; "
              f"every record once, chain verified in SQL")

    @staticmethod
    def tear_tail(log):
        """Half a copy of the last record after it: a write cut by a crash."""
        last = log_records(log)[-1]
        with open(log, "rb") as f:
            f.seek(last["offset"])
            rec = f.read()
        with open(log, "ab") as f:
            f.write(rec[:len(rec) // 2])

    def check_same(self, gateway, log):
        recs = log_records(log)
        rows = PG.sql("SELECT rec_index, rec_offset, rec_type, encode(hash, 'hex'), "
                      "length(raw) FROM kpgate_audit_record WHERE gateway_id = "
                      f"'{gateway}' ORDER BY rec_index")
        # No loss, nothing extra: the same records in the same places.
        self.assertEqual(len(rows), len(recs))
        types = {"header": 1, "open": 2, "close": 3, "decision": 4}
        for row, rec in zip(rows, recs):
            self.assertEqual((int(row[0]), int(row[1]), int(row[2]), row[3]),
                             (rec["index"], rec["offset"], types[rec["type"]],
                              rec["hash"]), rec)
        # The bytes themselves, all of them.
        with open(log, "rb") as f:
            data = f.read()
        size = recs[-1]["offset"] + int(rows[-1][4])
        digest = PG.sql("SELECT encode(sha256(string_agg(raw, ''::bytea "
                        "ORDER BY rec_index)), 'hex') FROM kpgate_audit_record "
                        f"WHERE gateway_id = '{gateway}'")[0][0]
        self.assertEqual(digest, hashlib.sha256(data[:size]).hexdigest())
        # Every decision's fields, as kpgate-audit reads them.
        dec = {(int(r[0]), int(r[1])): r for r in PG.sql(
            "SELECT lcore, seq, station, request_id, decision, coalesce(error, ''), "
            "certificate, trust_version FROM kpgate_decisions WHERE gateway_id = "
            f"'{gateway}'")}
        n = 0
        for rec in recs:
            if rec["type"] != "decision":
                continue
            n += 1
            row = dec[(rec["lcore"], rec["seq"])]
            self.assertEqual(row[2:], [rec["station"], rec["request_id"],
                                       rec["decision"], rec.get("error", ""),
                                       rec["certificate"],
                                       str(rec["trust_list_version"])], rec)
        self.assertEqual(len(dec), n)
        # Exactly once: no committed transaction carried a record twice
        # (ON CONFLICT DO NOTHING alone would hide a batch sent again).
        again = PG.sql("SELECT rec_index, count(*) FROM carried WHERE "
                       f"gateway_id = '{gateway}' GROUP BY rec_index "
                       "HAVING count(*) > 1")
        self.assertEqual(again, [], "records carried twice")
        carried = PG.sql(f"SELECT count(*) FROM carried WHERE gateway_id = '{gateway}'")
        self.assertEqual(int(carried[0][0]), len(recs))
        ok = verify_chain(gateway)
        self.assertEqual(ok[:2], ["t", str(len(recs))], ok)


class ShipVerifyTest(unittest.TestCase):
    """The SQL chain check finds each kind of tampering at its record."""

    def test_verify_chain_and_refusals(self):
        gateway = "BE-ANR-DEMO"
        logname = "audit-verify.log"
        log = path(logname)
        conf = write_conf("kpgate-verify.conf", logname)
        with Gateway(BUILD, conf, f"kpgsv{os.getpid()}",
                     log=path("kpgate-verify.log")) as gw:
            gw.start()
            run_station(gw, "verify", 800, 800)
            self.assertEqual(gw.stop(), 0, gw.log_text())

        # Two shippers race over the same log from nothing: the position
        # lock lets one batch at a time through, the other rereads.
        a, b = Shipper(log, "race-a", batch=20), Shipper(log, "race-b", batch=20)
        a.start(), b.start()
        try:
            n = wait_shipped(log, gateway)
        finally:
            a.stop_quietly(), b.stop_quietly()
        again = PG.sql("SELECT count(*) FROM carried GROUP BY rec_index "
                       "HAVING count(*) > 1")
        self.assertEqual(again, [], a.text() + b.text())
        rows = int(PG.sql("SELECT count(*) FROM kpgate_audit_record")[0][0])
        self.assertEqual(rows, n)
        self.assertEqual(verify_chain(gateway)[:2], ["t", str(n)])
        rereads = (a.text() + b.text()).count("moved under us")

        recs = log_records(log)
        k = next(r["index"] for r in recs[len(recs) // 2:] if r["type"] == "decision")
        w = f"gateway_id = '{gateway}' AND rec_index = {k}"

        def tampered(change, check_fields=True):
            out = PG.sql(f"BEGIN; {change}; SELECT * FROM kpgate_verify_chain("
                         f"'{gateway}', {check_fields}); ROLLBACK;")
            return out[0]

        # a column: the decision of record k turned into an accept
        r = tampered(f"UPDATE kpgate_audit_record SET decision = "
                     f"CASE decision WHEN 1 THEN 3 ELSE 1 END WHERE {w}")
        self.assertEqual((r[0], r[2]), ("f", str(k)), r)
        self.assertIn("column decision differs", r[6])
        # ... which only the field check can see
        r = tampered(f"UPDATE kpgate_audit_record SET decision = 0 WHERE {w}",
                     check_fields=False)
        self.assertEqual(r[0], "t", r)
        # a byte of the record (the certificate number's first byte)
        r = tampered(f"UPDATE kpgate_audit_record SET raw = set_byte(raw, 100, "
                     f"get_byte(raw, 100) # 1) WHERE {w}")
        self.assertEqual((r[0], r[2]), ("f", str(k)), r)
        self.assertIn("do not match its hash", r[6])
        # the record rewritten with its hash recomputed: the next one's
        # previous-record hash no longer matches
        d = 1 if recs[k]["decision"] == "reject" else 3
        r = tampered(f"""UPDATE kpgate_audit_record SET
                raw = overlay(set_byte(raw, 76, {d}) PLACING
                        sha256(substring(set_byte(raw, 76, {d}) FOR length(raw) - 32))
                        FROM length(raw) - 31),
                hash = sha256(substring(set_byte(raw, 76, {d}) FOR length(raw) - 32)),
                decision = {d} WHERE {w}""")
        self.assertEqual((r[0], r[2]), ("f", str(k + 1)), r)
        self.assertIn(f"not the hash of record {k}", r[6])
        # a row deleted
        r = tampered(f"DELETE FROM kpgate_audit_record WHERE {w}")
        self.assertEqual((r[0], r[2]), ("f", str(k)), r)
        self.assertIn(f"record {k} is missing", r[6])
        # rows cut from the end: the chain left is intact, the position
        # committed with the rows says more were shipped
        r = tampered(f"DELETE FROM kpgate_audit_record WHERE gateway_id = "
                     f"'{gateway}' AND rec_index >= {n - 3}")
        self.assertEqual((r[0], r[2]), ("f", str(n - 3)), r)
        self.assertIn("were shipped and are missing", r[6])
        # the shipper's role cannot rewrite history
        with self.assertRaises(AssertionError):
            PG.sql(f"UPDATE kpgate_audit_record SET decision = 1 WHERE {w}",
                   user="shipper")

        sh = Shipper(log, "refusals")
        # all shipped, intact: --once has nothing to do
        r = sh.once()
        self.assertEqual(r.returncode, 0, r.stderr)
        # a shipped record altered in the log: refused, loudly
        altered = path("audit-altered.log")
        shutil.copy(log, altered)
        with open(altered, "r+b") as f:
            f.seek(recs[k]["offset"] + 100)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 1]))
        r = sh.once(altered)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"ALTERED: the log breaks at record {k}", r.stderr)
        # a new log of the same gateway (the old one moved away)
        os.rename(log, path("audit-verify.old"))
        with Gateway(BUILD, conf, f"kpgsv{os.getpid()}",
                     log=path("kpgate-verify-2.log")) as gw:
            gw.start()
            self.assertEqual(gw.stop(), 0, gw.log_text())
        r = sh.once()
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("from another log", r.stderr)
        self.assertEqual(verify_chain(gateway)[:2], ["t", str(n)])
        print(f"\n{n} records shipped by two racing shippers, each once "
              f"({rereads} batches refused by the position lock and reread); "
              "column, byte, rehashed record, deleted row and cut tail each "
              "found at their record; altered and replaced logs refused")


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
