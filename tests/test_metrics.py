#!/usr/bin/env python3
"""Integration test: kpgate's Prometheus endpoint, scraped by Debian's real
prometheus server under traffic.

kpgate runs in the network namespace the harness makes for it, and its
metrics listener binds that namespace's loopback, 127.0.0.1:9102 (the
default: the demo config has no metrics group). Prometheus runs in the
same namespace (ip netns exec), on that loopback's 127.0.0.1:9090, and
scrapes kpgate every second. That is how an operator runs it too: the
endpoint stays on a management address, never on the stations' network,
which is what binding it to the tap side of the namespace would mean.
Whatever this test asks over HTTP it asks from inside the namespace.

Then: station traffic (genuine, forged, revoked, malformed); Prometheus'
API must show the counters that moved; `promtool check metrics` passes on
the scraped text; every PromQL expression of deploy/grafana/kpgate.json
parses and runs against that Prometheus. A bad metrics group is refused
by --check-config with file:line. Prometheus is installed with apt-get if
missing. Bounded: every wait has a timeout, two minutes in all.

usage: test_metrics.py BUILD_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from gwharness import GatewayTestCase, Gateway, GW4, make_demo_pki  # noqa: E402

BUILD = None
METRICS = "http://127.0.0.1:9102/metrics"
PROM = "http://127.0.0.1:9090"
DASHBOARD = os.path.join(TOP, "deploy", "grafana", "kpgate.json")

# Run inside the namespace: GETs each URL of argv[1:] and prints one JSON
# list of [status, body], so one process serves a batch of queries.
FETCH = r"""
import json, sys, urllib.error, urllib.request
out = []
for url in sys.argv[1:]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            out.append([r.status, r.read().decode()])
    except urllib.error.HTTPError as e:
        out.append([e.code, e.read().decode()])
    except OSError as e:
        out.append([0, str(e)])
print(json.dumps(out))
"""


def ensure_prometheus():
    """Debian's prometheus (with promtool), installed here if missing; the
    package lists are refreshed only if the first try fails."""
    if shutil.which("prometheus") and shutil.which("promtool"):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends",
               "prometheus"]
    if subprocess.run(install, env=env, timeout=90,
                      capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, timeout=60,
                       capture_output=True)
        subprocess.run(install, env=env, check=True, timeout=90,
                       capture_output=True)


class MetricsTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        ensure_prometheus()
        cls.dir = tempfile.mkdtemp(prefix="kpgate-met-")
        make_demo_pki(BUILD, cls.dir)
        cls.gw = Gateway(BUILD, cls.path("kpgate.conf"),
                         f"kpgmet{os.getpid()}", log=cls.path("kpgate.log"))
        cls.prom = None
        cls.gw.start()
        try:
            cls.start_prometheus()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.prom and cls.prom.poll() is None:
            cls.prom.terminate()
            try:
                cls.prom.wait(timeout=10)
            except subprocess.TimeoutExpired:
                cls.prom.kill()
                cls.prom.wait(timeout=10)
        super().tearDownClass()

    @classmethod
    def fetch(cls, *urls):
        r = cls.gw.ns(sys.executable, "-c", FETCH, *urls, timeout=60)
        return json.loads(r.stdout)

    @classmethod
    def start_prometheus(cls):
        with open(cls.path("prometheus.yml"), "w") as f:
            f.write("global:\n"
                    "  scrape_interval: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "scrape_configs:\n"
                    "  - job_name: kpgate\n"
                    "    static_configs:\n"
                    "      - targets: ['127.0.0.1:9102']\n")
        cls.prom_log = open(cls.path("prometheus.log"), "w")
        cls.prom = subprocess.Popen(
            ["ip", "netns", "exec", cls.gw.netns, "prometheus",
             "--config.file=" + cls.path("prometheus.yml"),
             "--storage.tsdb.path=" + cls.path("tsdb"),
             "--web.listen-address=127.0.0.1:9090",
             "--log.level=warn"],
            stdout=cls.prom_log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if cls.prom.poll() is not None:
                raise RuntimeError("prometheus exited: " +
                                   open(cls.path("prometheus.log")).read())
            if cls.fetch(PROM + "/-/ready")[0][0] == 200:
                return
            time.sleep(0.3)
        raise RuntimeError("prometheus not ready in 30 s")

    # -- Prometheus API ------------------------------------------------------
    def queries(self, *exprs):
        """Runs instant queries; returns their API answers, in order."""
        urls = [PROM + "/api/v1/query?" + urllib.parse.urlencode({"query": e})
                for e in exprs]
        out = []
        for status, body in self.fetch(*urls):
            try:
                out.append(json.loads(body))
            except ValueError:
                out.append({"status": "error", "error": f"HTTP {status}: {body}"})
        return out

    def value(self, expr):
        """The single value of an instant query, or None if it has none."""
        a = self.queries(expr)[0]
        self.assertEqual(a["status"], "success", (expr, a))
        res = a["data"]["result"]
        return float(res[0]["value"][1]) if res else None

    def wait_for(self, expr, pred, timeout=20):
        deadline = time.monotonic() + timeout
        v = None
        while time.monotonic() < deadline:
            v = self.value(expr)
            if v is not None and pred(v):
                return v
            time.sleep(0.5)
        self.fail(f"{expr} = {v} after {timeout} s")

    # -- tests ---------------------------------------------------------------
    def test_a_counters_moved_under_traffic(self):
        self.wait_for('up{job="kpgate"}', lambda v: v == 1)
        moved = {
            'kpgate_requests_total': 200,
            'kpgate_decisions_total{decision="accept"}': 100,
            'kpgate_decisions_total{decision="reject"}': 2,
            'kpgate_verdict_reasons_total{reason="signature_invalid"}': 1,
            'kpgate_verdict_reasons_total{reason="key_revoked"}': 1,
            'kpgate_errors_total{error="malformed_request"}': 1,
            'kpgate_plugin_verdicts_total{plugin="validity",verdict="accept"}': 100,
            'kpgate_cache_lookups_total{result="hit"}': 100,
            'kpgate_request_latency_seconds_count{path="warm"}': 100,
            'kpgate_request_latency_seconds_count{path="cold"}': 2,
            'kpgate_rx_packets_total': 200,
        }
        before = {e: self.value(e) or 0 for e in moved}

        station = self.gw.ns(
            sys.executable, os.path.join(HERE, "station.py"), GW4,
            self.path("genuine.kpc"), self.path("genuine-bw.kpc"),
            "--count", "200", "--rate", "200", "--wait", "3", timeout=60)
        self.assertEqual(json.loads(station.stdout)["answered"], 200)
        for name in ("forged.kpc", "revoked.kpc"):
            rc, a = self.gw.scan(self.path(name))
            self.assertEqual(rc, 2, a)
        rc, a = self.gw.scan("--raw", self.path("malformed.req"))
        self.assertEqual(rc, 3, a)

        for expr, least in moved.items():
            self.wait_for(expr, lambda v, b=before[expr], n=least: v - b >= n)
        # The series behave as counters to PromQL too.
        self.assertGreater(self.value('increase(kpgate_requests_total[1m])'), 0)
        self.assertEqual(self.value('kpgate_trust_list_version'), 1)
        self.assertEqual(self.value('kpgate_trust_list_loaded'), 1)
        age = self.value('kpgate_trust_list_age_seconds')
        self.assertTrue(0 <= age < 600, age)
        q = self.value('histogram_quantile(0.5, sum by (le) '
                       '(kpgate_request_latency_seconds_bucket{path="warm"}))')
        self.assertTrue(0 < q < 0.1, q)

    def test_b_promtool_check_metrics(self):
        status, text = self.fetch(METRICS)[0]
        self.assertEqual(status, 200, text)
        r = subprocess.run(["promtool", "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout + r.stderr, "")
        for family in ("kpgate_drops_total", "kpgate_decisions_total",
                       "kpgate_errors_total", "kpgate_plugin_verdicts_total",
                       "kpgate_request_latency_seconds",
                       "kpgate_trust_list_age_seconds"):
            self.assertIn(f"# TYPE {family} ", text)
        status, body = self.fetch(METRICS.replace("/metrics", "/nothing"))[0]
        self.assertEqual(status, 404)

    def dashboard_exprs(self):
        with open(DASHBOARD) as f:
            dash = json.load(f)
        exprs = []

        def walk(panels):
            for p in panels:
                exprs.extend(t["expr"] for t in p.get("targets", []))
                walk(p.get("panels", []))
        walk(dash["panels"])
        # Grafana's label_values(metric, label) is the query 'metric'.
        for v in dash.get("templating", {}).get("list", []):
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            m = re.fullmatch(r"label_values\((.+),\s*\w+\)", q or "")
            if m:
                exprs.append(m.group(1))
        return exprs

    def test_c_dashboard_queries(self):
        """Every PromQL expression of the dashboard parses and runs; those
        whose metrics kpgate exports (the station and audit panels wait for
        their modules) return data."""
        self.wait_for('up{job="kpgate"}', lambda v: v == 1)
        exprs = self.dashboard_exprs()
        self.assertGreater(len(exprs), 20)
        status, page = self.fetch(METRICS)[0]
        exported = set(re.findall(r"^# TYPE (\w+) ", page, re.M))
        subst = {"$__rate_interval": "1m", "$__interval": "15s",
                 "$__range": "1h", "$instance": ".+"}
        runnable = []
        for e in exprs:
            for k, v in subst.items():
                e = e.replace(k, v)
            self.assertNotIn("$", e, f"unknown dashboard variable in {e}")
            runnable.append(e)
        for e, a in zip(runnable, self.queries(*runnable)):
            self.assertEqual(a.get("status"), "success", f"{e}: {a}")
            names = {re.sub(r"_(bucket|sum|count)$", "", n)
                     for n in re.findall(r"\bkpgate_\w+", e)}
            if names and names <= exported:
                self.assertTrue(a["data"]["result"], f"no data for {e}")

    def test_d_bad_metrics_group_refused(self):
        """--check-config reads the metrics group: no EAL, file:line."""
        conf = self.path("bad.conf")
        cases = {
            "metrics: {\n  port = 70000;\n};\n": (2, "'port'"),
            "metrics: {\n  listen = \"localhost\";\n};\n": (2, "'listen'"),
            "metrics: {\n  enabled = true;\n  prot = 9102;\n};\n": (3, "unknown key 'prot'"),
        }
        kpgate = os.path.join(BUILD, "gateway", "kpgate")
        for text, (line, words) in cases.items():
            with open(conf, "w") as f:
                f.write(text)
            r = subprocess.run([kpgate, "--", "-c", conf, "--check-config"],
                               capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0, text)
            self.assertIn(f"{conf}:{line}: ", r.stderr)
            self.assertIn(words, r.stderr)
            self.assertNotIn("EAL", r.stderr)
        with open(conf, "w") as f:
            f.write('metrics: { enabled = false; listen = "::1"; port = 9103; };\n')
        r = subprocess.run([kpgate, "--", "-c", conf, "--check-config"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_z_clean_shutdown(self):
        self.assertEqual(self.gw.stop(), 0, self.gw.log_text())


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
