#!/usr/bin/env python3
"""kpgate's benchmark: one command, one run, one table.

    tools/bench/run.py [--build DIR] [--quick] [--no-huge] [--only STAGES]

Measures, on this machine, side by side with the limits:
  1. crypto limit: verifies/s per algorithm and backend, one core
     (build/core/kpg-bench-verify, through kpgate's own verify interface);
  2. I/O limit: dpdk-testpmd in 5tswap mode reflecting the generator's
     requests over the same memif link, same packets;
  3. kpgate cold (every certificate new to its cache) per algorithm:
     requests/s on one worker lcore, ratio to (1), overhead per request;
  4. kpgate warm (every certificate a cache hit): requests/s, ratio to (2),
     and a 60 s run at 0.9 x NDR that must lose nothing;
  5. latency p50/p99/p99.9 at 10..90 % of NDR for warm, cold and a
     90 % warm / 10 % cold mix;
  6. memory: kpgate's resident set, bytes per cache entry;
  7. ledger: the warm path with the duplicate plugin's consumed-certificate
     ledger, in the local file store and in the Redis store shared by a
     fleet (a redis-server of its own on loopback), against the chain
     without it;
then profiles kpgate (perf) on the warm and the cold path, draws the
pictures with gnuplot into docs/perf/ and rewrites the results block of
docs/performance.md. kpgate and the generator (or testpmd) each get one of
the two cores and busy-poll; nothing else should run meanwhile.

--only crypto,io,memory,cold,warm,latency,profile,ledger runs those stages
alone (and what their figures are computed against: cold needs crypto,
warm io, latency warm, memory crypto). Their figures replace those of the
same stages in docs/perf/results.json; the other stages' stay, and the
table says which rows come from which run.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import lgharness as H  # noqa: E402

ALGS = ["ecdsa-p256", "ed25519", "rsa-pss"]
# memif rings of 4096 slots both ways, as a NIC's RX ring: 2 ms of
# requests at 2 Mpps for a polling thread the kernel sets aside.
H.MEMIF_RSIZE = 12
LOADS = [0.1, 0.25, 0.5, 0.75, 0.9]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

# In the order they run, with the row of the table each fills and the keys
# of results.json that hold its figures.
STAGES = {"crypto": (1, ["crypto"]), "io": (2, ["io"]), "memory": (6, ["memory"]),
          "cold": (3, ["cold"]), "warm": (4, ["warm"]),
          "latency": (5, ["mix", "latency"]), "profile": (None, ["profile"]),
          "ledger": (7, ["ledger"])}
# What a stage's figures are computed against runs with it, so no ratio
# ever divides by a figure of another run.
NEEDS = {"cold": ["crypto"], "warm": ["io"], "latency": ["warm"],
         "memory": ["crypto"]}

# The ledger stage: the chains compared, each saturated twice in the order
# a b c c b a (so a drift of the machine's load meets each alike), then
# each sent the same offered rate for its latency: this share of the
# saturated rate of the slowest chain.
LEDGER_VARIANTS = ["none", "file", "redis"]
LEDGER_LOAD = 0.5
LEDGER_HOT = 64                         # hot certificates per algorithm


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- environment -------------------------------------------------------------

def ensure_gnuplot():
    if shutil.which("gnuplot"):
        return True
    log("installing gnuplot-nox")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
    r = subprocess.run(["apt-get", "install", "-y", "-q",
                        "--no-install-recommends", "gnuplot-nox"],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        log("gnuplot-nox did not install; no pictures: " + r.stderr[-300:])
    return shutil.which("gnuplot") is not None


def hugepages_mounted():
    with open("/proc/mounts") as f:
        return any(line.split()[1] == "/dev/hugepages" and
                   line.split()[2] == "hugetlbfs" for line in f)


def hugepages_free_mib():
    free = size = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("HugePages_Free:"):
                free = int(line.split()[1])
            elif line.startswith("Hugepagesize:"):
                size = int(line.split()[1])
    return free * size // 1024


def setup_hugepages():
    """Reserves 2 GiB of 2 MiB pages (512 MiB each for kpgate or testpmd
    and the generator, with room to spare) and mounts them, unless enough
    are there already; returns True when the setup was ours (undone at the
    end)."""
    if hugepages_mounted():
        if hugepages_free_mib() >= 1536:
            return False
        # Someone else's mount: not ours to clear or unmount.
        raise RuntimeError("hugepages mounted with under 1.5 GiB free")
    os.makedirs("/dev/hugepages", exist_ok=True)
    subprocess.run(["dpdk-hugepages.py", "-p", "2M", "--setup", "2G"],
                   capture_output=True)
    if not hugepages_mounted():
        subprocess.run(["mount", "-t", "hugetlbfs", "nodev", "/dev/hugepages"],
                       capture_output=True)
    if not hugepages_mounted() or hugepages_free_mib() < 1536:
        teardown_hugepages()             # leave the machine as it was
        raise RuntimeError("cannot set 2 GiB of 2 MiB hugepages up (try --no-huge)")
    return True


def teardown_hugepages():
    for _ in range(4):
        if not hugepages_mounted():
            break
        subprocess.run(["umount", "/dev/hugepages"], capture_output=True)
    subprocess.run(["dpdk-hugepages.py", "--clear"], capture_output=True)


# --- measurements ------------------------------------------------------------

def crypto_limit(build, seconds):
    # On core 1, where kpgate's worker runs in the other measurements, at a
    # real-time priority for these few seconds: no other process halves it.
    rt = ["chrt", "-f", "1"] if shutil.which("chrt") else []
    out = subprocess.run([*rt, "taskset", "-c", "1",
                          os.path.join(build, "core", "kpg-bench-verify"),
                          str(seconds)], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    rows, entry = [], None
    for line in out.splitlines():
        m = re.match(r"(\S+)\s+(openssl|libsodium)\s+(yes)?\s+(\d+)\s+([\d.]+)", line)
        if m:
            rows.append({"alg": m.group(1), "backend": m.group(2),
                         "default": bool(m.group(3)),
                         "verifies_per_s": int(m.group(4)),
                         "us_per_verify": float(m.group(5))})
        m = re.match(r"cache: (\d+) bytes per entry", line)
        if m:
            entry = int(m.group(1))
    return {"rows": rows, "cache_entry_bytes": entry, "text": out}


class Redis:
    """Debian's redis-server for the ledger stage, as a fleet's would be
    reached over TCP, but on 127.0.0.1 only: a free port, a directory of
    its own, nothing saved, stopped (and its directory removed) on exit."""

    def __init__(self, parent):
        self.dir = tempfile.mkdtemp(prefix="redis-", dir=parent)
        self.port = None
        self.proc = None

    def __enter__(self):
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server missing (tools/install-deps.sh installs it)")
        # A port found free can be taken before redis-server binds it:
        # then it exits at once, and another is tried.
        for _ in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen(
                [exe, "--bind", "127.0.0.1", "--port", str(self.port),
                 "--save", "", "--appendonly", "no",
                 "--daemonize", "no", "--dir", self.dir,
                 "--logfile", os.path.join(self.dir, "redis.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while self.proc.poll() is None and time.monotonic() < deadline:
                if self.ping():
                    return self
                time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"redis-server did not start:\n{self.log_tail()}")

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as c:
                c.sendall(b"PING\r\n")
                return c.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def log_tail(self):
        try:
            with open(os.path.join(self.dir, "redis.log"), errors="replace") as f:
                return f.read()[-2000:]
        except OSError as e:
            return str(e)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bench:
    def __init__(self, args):
        self.a = args
        self.build = os.path.abspath(args.build)
        self.tag = f"kpgb{os.getpid()}"
        self.sock = f"/tmp/{self.tag}.sock"
        self.dir = tempfile.mkdtemp(prefix="kpgate-bench-")
        self.res = {"machine": machine(), "hugepages": args.huge,
                    "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "trial_s": args.trial, "confirm_s": args.confirm,
                    "latency_s": args.latency_s, "only": args.only,
                    "commit": commit()}
        self.n = 0
        self.watch = None               # the peer's pid while one runs
        self.disturbed = 0

    def lg(self, args, timeout=600, retries=2):
        """One generator run. A single run (not a search, which retries its
        own trials) during which kpgate or the generator waited over 2 ms
        for a CPU taken by another process is run again, up to twice."""
        watch = ["--watch-pid", self.watch] if self.watch else []
        for attempt in range(retries + 1):
            self.n += 1
            rc, doc, err = H.loadgen(self.build, f"{self.tag}l{self.n}", self.sock,
                                     ["--pki", self.dir, "--quiet", *watch, *args],
                                     lcores="0", huge=self.a.huge, timeout=timeout)
            if rc != 0 or doc is None:
                raise RuntimeError(f"loadgen {args} failed ({rc}):\n{err[-3000:]}")
            r = doc.get("result")
            if r is None:
                return doc
            waited = r["cpu_wait_ms"]["generator"] + r["cpu_wait_ms"]["watched"]
            r["tries"] = attempt + 1
            if waited <= 2.0:
                return doc
            self.disturbed += 1
            log(f"  disturbed (waited {waited:.1f} ms for a CPU), again")
        return doc

    def search(self, args, confirm=0, max_rate=0):
        extra = ["--max-rate", f"{max_rate:.0f}"] if max_rate else []
        # Up to 30 trials, each tried up to 3 times when disturbed.
        budget = 90 * (self.a.trial + 1.5) + confirm + 120
        return self.lg(["--search", "--trial", self.a.trial, "--confirm",
                        confirm, *extra, *args], timeout=budget)["search"]

    def saturate(self, args, seconds=3):
        """As fast as answers come back, with fewer requests in flight than
        kpgate's cold queue holds (so none is refused "overloaded"): the
        rate it serves when it never waits for work. Also per second of CPU
        the peer really had: on cores shared with other processes that is
        the figure that says what one lcore does."""
        r = self.lg(["--rate", 0, "--max-inflight", 512, "--duration",
                     seconds, *args])["result"]
        served = r["answered"] - r["overloaded"]
        cpu_s = r.get("watched_cpu_ms", 0) / 1e3
        r["core_share"] = cpu_s / r["seconds"] if r["seconds"] else 0
        r["per_cpu_s"] = served / cpu_s if cpu_s > 0.1 * r["seconds"] else r["throughput_pps"]
        return r

    def gateway(self, cache_entries, name):
        conf = H.write_conf(self.dir, name=f"{name}.conf",
                            cache_entries=cache_entries, idle_sleep_us=0)
        gw = H.Gateway(self.build, conf, f"{self.tag}g", self.sock,
                       os.path.join(self.dir, f"{name}.log"), lcores="1",
                       huge=self.a.huge)
        return gw.start(timeout=60, limit_s=3600)

    def io_limit(self):
        log("I/O limit: dpdk-testpmd 5tswap over memif")
        with H.Reflector(f"{self.tag}t", self.sock,
                         os.path.join(self.dir, "testpmd.log"), lcores="0,1",
                         huge=self.a.huge).start(timeout=60, limit_s=1800) as tp:
            self.watch = tp.pid()
            mix = ["--warm", 1, "--reflector"]
            sat = self.saturate(mix)
            s = self.search(mix)
            # The floor under every latency below: link and generator alone.
            floor = self.lg(["--rate", f"{0.1 * s['ndr_pps']:.0f}",
                             "--duration", self.a.latency_s, *mix])["result"]
        self.watch = None
        self.res["io"] = {"saturated": sat, "search": s, "floor": floor,
                          "ndr": s["ndr_pps"], "max": sat["throughput_pps"],
                          "per_cpu_s": sat["per_cpu_s"]}
        log(f"I/O: NDR {s['ndr_pps']:.0f}/s, saturated {sat['throughput_pps']:.0f}/s, "
            f"latency at 10 % p50 {floor['latency_us']['p50']:.1f} "
            f"p99 {floor['latency_us']['p99']:.1f} us")

    def kpgate_runs(self, stages):
        gw = self.gateway(self.a.cache, "bench")
        self.watch = gw.pid()
        try:
            idle = gw.memory_kib()
            self.res["plugins"] = safe(lambda: gw.telemetry("/kpgate/plugins"))
            if "cold" in stages:
                self.cold(gw)
            if "warm" in stages:
                self.warm(gw)
            if "latency" in stages:
                self.mixes(gw)
            if "memory" in stages:
                self.res["memory"]["idle"] = idle
                # "Loaded" only after runs that loaded it.
                if stages & {"cold", "warm", "latency"}:
                    self.res["memory"]["loaded"] = gw.memory_kib()
            if "profile" in stages:
                self.profile(gw)
        finally:
            self.watch = None
            gw.stop()

    def counters(self, gw):
        c = safe(lambda: gw.telemetry("/kpgate/stats"))
        return c if isinstance(c, dict) and "cache_hits" in c else \
            {"cache_hits": 0, "cache_misses": 0, "answered": 0, "busy_ns": 0}

    @staticmethod
    def busy_rate(c0, c1):
        """Requests answered per second the worker spent in polls that found
        work (/kpgate/stats busy_ns): what one lcore does, measured by kpgate
        itself, whatever the generator or other processes did meanwhile."""
        busy = (c1.get("busy_ns", 0) - c0.get("busy_ns", 0)) / 1e9
        answered = c1.get("answered", 0) - c0.get("answered", 0)
        return {"busy_rate": answered / busy if busy > 0 else 0, "busy_s": busy}

    def cold(self, gw):
        crypto = {r["alg"]: r for r in self.res["crypto"]["rows"] if r["default"]}
        self.res["cold"] = {}
        for alg in ALGS:
            log(f"cold {alg}")
            mix = ["--mix", alg, "--warm", 0]
            c0 = self.counters(gw)
            sat = self.saturate(mix)
            c1 = self.counters(gw)
            s = self.search(mix, max_rate=1.2 * sat["throughput_pps"])
            limit = crypto[alg]["verifies_per_s"]
            rate = sat["per_cpu_s"]
            hits = c1["cache_hits"] - c0["cache_hits"]
            miss = c1["cache_misses"] - c0["cache_misses"]
            self.res["cold"][alg] = {
                "saturated": sat, "search": s, "rate": rate, "ndr": s["ndr_pps"],
                "wall_rate": sat["throughput_pps"], "core_share": sat["core_share"],
                "crypto": limit, "ratio": rate / limit,
                "overhead_ns": 1e9 / rate - 1e9 / limit,
                "cache_hit_ratio": hits / max(1, hits + miss),
                "generator_busy": sat.get("generator_busy"),
                **self.busy_rate(c0, c1)}
            log(f"cold {alg}: {rate:.0f}/s served per CPU-second "
                f"({sat['core_share']:.0%} of the core), NDR {s['ndr_pps']:.0f}/s, "
                f"{rate / limit:.3f} of {limit}/s, cache hits {hits}/{hits + miss}")

    def warm(self, gw):
        log("warm")
        mix = ["--warm", 1]
        c0 = self.counters(gw)
        sat = self.saturate(mix)
        c1 = self.counters(gw)
        s = self.search(mix, confirm=self.a.confirm,
                        max_rate=1.2 * sat["throughput_pps"])
        self.res["warm"] = {"saturated": sat, "search": s,
                            "rate": sat["per_cpu_s"], "wall_rate": sat["throughput_pps"],
                            "core_share": sat["core_share"], "ndr": s["ndr_pps"],
                            "cache_hits": c1["cache_hits"] - c0["cache_hits"],
                            "cache_misses": c1["cache_misses"] - c0["cache_misses"],
                            "cert_decodes": c1.get("cert_decodes", 0) - c0.get("cert_decodes", 0),
                            "generator_busy": sat.get("generator_busy"),
                            **self.busy_rate(c0, c1)}
        log(f"warm: {sat['per_cpu_s']:.0f}/s served per CPU-second "
            f"({sat['core_share']:.0%} of the core), NDR {s['ndr_pps']:.0f}/s")

    def mixes(self, gw):
        """Latency versus offered load for warm, cold and 90/10."""
        warm_ndr = self.res["warm"]["ndr"]
        log("cold mix and 90/10 mix: NDR")
        cold_sat = self.saturate(["--warm", 0])
        cold = self.search(["--warm", 0], max_rate=1.2 * cold_sat["throughput_pps"])
        mix_sat = self.saturate(["--warm", 0.9])
        mixed = self.search(["--warm", 0.9], confirm=self.a.confirm,
                            max_rate=1.2 * mix_sat["throughput_pps"])
        self.res["mix"] = {"cold_all": {"search": cold, "saturated": cold_sat},
                           "warm90": {"search": mixed, "saturated": mix_sat}}
        self.res["latency"] = {}
        for name, ndr, args in (("warm", warm_ndr, ["--warm", 1]),
                                ("cold", cold["ndr_pps"], ["--warm", 0]),
                                ("mix90", mixed["ndr_pps"], ["--warm", 0.9])):
            pts = []
            for load in LOADS:
                rate = max(10.0, load * ndr)
                r = self.lg(["--rate", f"{rate:.0f}", "--duration",
                             self.a.latency_s, *args])["result"]
                pts.append({"load": load, "rate": rate, "result": r})
                log(f"latency {name} {load:.0%} of NDR ({rate:.0f}/s): "
                    f"p50 {r['latency_us']['p50']:.1f} p99 {r['latency_us']['p99']:.1f} us, "
                    f"unserved {r['unserved']}")
            self.res["latency"][name] = {"ndr": ndr, "points": pts}

    def memory_per_entry(self):
        """RSS of kpgate with a small and a large cache: the difference per
        entry (the cache is touched at start, so it is all resident)."""
        out = {}
        for n in (4096, 65536):
            gw = self.gateway(n, f"mem{n}")
            try:
                time.sleep(0.5)
                out[n] = gw.memory_kib()["VmRSS"]
            finally:
                gw.stop()
        self.res["memory"] = {"rss_kib_by_cache": out,
                              "bytes_per_entry": (out[65536] - out[4096]) * 1024 / (65536 - 4096)}

    def profile(self, gw):
        """perf profiles of kpgate's worker on the warm and the cold path."""
        if not shutil.which("perf"):
            return
        self.res["profile"] = {}
        for name, args in (("warm", ["--warm", 1]),
                           ("cold-ecdsa", ["--warm", 0, "--mix", "ecdsa-p256"]),
                           ("cold-ed25519", ["--warm", 0, "--mix", "ed25519"])):
            data = os.path.join(self.dir, f"perf-{name}.data")
            p = subprocess.Popen(["perf", "record", "-F", "1999", "-g", "-o", data,
                                  "-p", str(gw.pid()), "--", "sleep", "3"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.lg(["--rate", 0, "--duration", 4, *args])
            p.wait(timeout=60)
            rep = subprocess.run(["perf", "report", "-i", data, "--stdio",
                                  "--no-children", "-g", "none", "--percent-limit", "1",
                                  "--sort", "dso,symbol"],
                                 capture_output=True, text=True, timeout=120).stdout
            lines = [l for l in rep.splitlines() if l.strip() and not l.startswith("#")]
            self.res["profile"][name] = lines[:25]
            with open(os.path.join(self.a.out, f"profile-{name}.txt"), "w") as f:
                f.write("\n".join(lines) + "\n")

    # --- 7. the consumed-certificate ledger on the warm path -----------------

    def ledger(self):
        """The warm path (every certificate a cache hit) with the duplicate
        plugin after validity, its ledger in the file store and in the Redis
        store, against validity alone. Every hot certificate is accepted
        once first, so each measured request is one the ledger finds:
        a re-scan by one of this checkpoint's stations within its window,
        accepted again (1801 rescan_in_window), which is what a real warm
        request meets. The checks around each run make sure no request of
        it took another path."""
        with open(os.path.join(self.dir, "ledger.key"), "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        sat = {v: [] for v in LEDGER_VARIANTS}
        with Redis(self.dir) as redis:
            log(f"ledger: redis-server on 127.0.0.1:{redis.port}")
            for v in LEDGER_VARIANTS + LEDGER_VARIANTS[::-1]:
                sat[v].append(self.ledger_run(v, redis.port))
            # One offered rate that every chain serves.
            rate = LEDGER_LOAD * min(sum(r["throughput_pps"] for r in rs) / len(rs)
                                     for rs in sat.values())
            lat = {v: self.ledger_run(v, redis.port, rate) for v in LEDGER_VARIANTS}
        out = {"offered_rate": rate, "variants": {}}
        for v, rs in sat.items():
            rates = [r["per_cpu_s"] for r in rs]
            L = lat[v]["latency_us"]
            out["variants"][v] = {
                "saturated": rs, "latency": lat[v],
                "rate": sum(rates) / len(rates), "rates": rates,
                "core_share": sum(r["core_share"] for r in rs) / len(rs),
                "p50": L["p50"], "p99": L["p99"], "unserved": lat[v]["unserved"]}
        self.res["ledger"] = out

    def ledger_conf(self, variant, port):
        dup = ""
        if variant != "none":
            # The generator's stations are lg-NNNNNN: this checkpoint's.
            fleet = "" if variant == "file" else f"""
    store = "redis";
    redis_host = "127.0.0.1";
    redis_port = {port};
    redis_prefix = "kpgate-bench";
    fleet_key_file = "ledger.key";"""
            dup = f""",
  {{ name = "duplicate";
    station_prefix = "lg-";
    rescan_window = 2592000;
    state_file = "ledger-{variant}.ledger";{fleet} }}"""
        return H.write_conf(self.dir, name=f"ledger-{variant}.conf",
                            cache_entries=self.a.cache, idle_sleep_us=0,
                            extra=f"plugins = (\n  {{ name = \"validity\"; }}{dup}\n);\n")

    def ledger_run(self, variant, port, rate=None):
        """One gateway with this chain: its saturated rate, or (rate given)
        its latency at that offered rate, between checks."""
        mix = ["--warm", 1, "--warm-certs", LEDGER_HOT]
        gw = H.Gateway(self.build, self.ledger_conf(variant, port),
                       f"{self.tag}g", self.sock,
                       os.path.join(self.dir, f"ledger-{variant}.log"),
                       lcores="1", huge=self.a.huge).start(timeout=60, limit_s=600)
        self.watch = gw.pid()
        try:
            # Every hot certificate once (the generator's warm-up): verified
            # and cached, and with the ledger accepted and consumed.
            self.lg(["--rate", 2000, "--duration", 1, *mix])
            if variant != "none":
                self.ledger_settled(gw, variant)
            before = self.ledger_state(gw, variant)
            if rate is None:
                r = self.saturate(mix)
            else:
                r = self.lg(["--rate", f"{rate:.0f}", "--duration",
                             self.a.latency_s, *mix])["result"]
            self.ledger_check(variant, before, self.ledger_state(gw, variant))
        finally:
            self.watch = None
            gw.stop()
        if rate is None:
            log(f"ledger {variant}: {r['per_cpu_s']:.0f}/s served per CPU-second "
                f"({r['core_share']:.0%} of the core)")
        else:
            log(f"ledger {variant} at {rate:.0f}/s: p50 {r['latency_us']['p50']:.1f} "
                f"p99 {r['latency_us']['p99']:.1f} us, unserved {r['unserved']}")
        return r

    def ledger_state(self, gw, variant):
        st = {"stats": gw.telemetry("/kpgate/stats")}
        if variant != "none":
            st["dup"] = gw.telemetry("/kpgate/plugins")["duplicate"]
        return st

    def ledger_settled(self, gw, variant, timeout=10):
        """Waits until the owner thread has recorded every hot certificate
        (and the Redis store, in step with Redis, has pushed them)."""
        want = LEDGER_HOT * len(ALGS)
        deadline = time.monotonic() + timeout
        while True:
            d = gw.telemetry("/kpgate/plugins")["duplicate"]
            if d["records"] >= want and (variant == "file" or
                                         (d["fleet_up"] == 1 and d["push_backlog"] == 0)):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"ledger {variant}: {d['records']} of {want} hot "
                                   f"certificates recorded in {timeout} s: {d}")
            time.sleep(0.1)

    @staticmethod
    def ledger_check(variant, before, after):
        """Every request of the run was a cache hit, and (with the ledger)
        one the ledger found and accepted as a re-scan: none was consumed
        (inserted, raced or lost to a full ring) or judged otherwise, and
        the Redis store stayed in step."""
        s0, s1 = before["stats"], after["stats"]
        bad = []
        if s1["cache_misses"] != s0["cache_misses"]:
            bad.append(f"{s1['cache_misses'] - s0['cache_misses']} cache misses")
        if variant != "none":
            d0, d1 = before["dup"], after["dup"]
            for k in ("inserted", "raced", "ring_full", "refer", "reject",
                      "not_applicable"):
                if d1[k] != d0[k]:
                    bad.append(f"duplicate {k} +{d1[k] - d0[k]}")
            if d1["accept"] == d0["accept"]:
                bad.append("the duplicate plugin judged nothing")
            if variant == "redis" and (d1["fleet_up"] != 1 or
                                       d1["redis_unreachable"] != d0["redis_unreachable"]):
                bad.append(f"Redis out of step (fleet_up {d1['fleet_up']}, "
                           f"redis_unreachable {d1['redis_unreachable']})")
        if bad:
            raise RuntimeError(f"ledger {variant}: not the warm re-scan path: "
                               + ", ".join(bad))

    def run(self, stages):
        t0 = time.time()
        log(f"PKI: {self.a.certs} certificates per algorithm in {self.dir}")
        H.make_pki(self.build, self.dir, certs=self.a.certs, rogue=256)
        if "crypto" in stages:
            log("crypto limit")
            self.res["crypto"] = crypto_limit(self.build, self.a.crypto_s)
        if "io" in stages:
            self.io_limit()
        if "memory" in stages:
            self.memory_per_entry()
        if stages & {"memory", "cold", "warm", "latency", "profile"}:
            self.kpgate_runs(stages)
        if "ledger" in stages:
            self.ledger()
        self.res["seconds"] = time.time() - t0
        self.res["disturbed_runs_repeated"] = self.disturbed
        self.res["machine"]["loadavg_at_end"] = os.getloadavg()[0]
        return self.res


def safe(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - telemetry is optional here
        return {"error": str(e)}


def commit():
    """The source tree measured: its commit, and whether it had changes."""
    r = subprocess.run(["git", "-C", TOP, "describe", "--always", "--dirty"],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def machine():
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    dpdk = subprocess.run(["pkg-config", "--modversion", "libdpdk"],
                          capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "dpdk": dpdk,
            "kernel": os.uname().release, "loadavg_at_start": os.getloadavg()[0]}


# --- output ------------------------------------------------------------------

def table(res):
    """The one table, in Markdown: a row group for each stage in res."""
    rows = []

    def r(*cells):
        rows.append("| " + " | ".join(str(c) for c in cells) + " |")

    r("#", "measure", "result", "against", "target")
    r("---", "---", "---", "---", "---")
    if "crypto" in res:
        for c in res["crypto"]["rows"]:
            r(1, f"crypto limit {c['alg']}, {c['backend']}{' (default)' if c['default'] else ''}",
              f"{c['verifies_per_s']:,} verifies/s ({c['us_per_verify']:.1f} us)", "", "")
    io = res.get("io")
    if io:
        r(2, "I/O limit: testpmd 5tswap over memif",
          f"NDR {io['ndr']:,.0f} pkt/s; saturated {io['max']:,.0f} pkt/s "
          f"({io['per_cpu_s']:,.0f} per CPU-second)", "", "")
        F = io["floor"]["latency_us"]
        r(2, f"I/O latency at 10% of its NDR ({io['floor']['rate_target']:,.0f}/s)",
          f"p50 {F['p50']:.1f} / p99 {F['p99']:.1f} / p99.9 {F['p99.9']:.1f} us", "", "")
    for alg in ALGS if "cold" in res else []:
        c = res["cold"][alg]
        target = 0.85 if alg == "rsa-pss" else 0.95
        r(3, f"kpgate cold {alg}, 1 lcore",
          f"{c['rate']:,.0f} req/s per CPU-second ({c['wall_rate']:,.0f}/s with "
          f"{c['core_share']:.0%} of the core; NDR {c['ndr']:,.0f}; cache hits "
          f"{c['cache_hit_ratio']:.1%}; {c.get('busy_rate', 0):,.0f} per busy second); overhead "
          f"{c['overhead_ns']:,.0f} ns/request",
          f"{c['ratio']:.2f} x (1)", f">= {target} x, <= 2000 ns "
          f"{'met' if c['ratio'] >= target and c['overhead_ns'] <= 2000 else 'MISSED'}")
    warm = res.get("warm")
    if warm:
        r(4, "kpgate warm, 1 lcore",
          f"{warm['rate']:,.0f} req/s per CPU-second ({warm['wall_rate']:,.0f}/s with "
          f"{warm['core_share']:.0%} of the core; NDR {warm['ndr']:,.0f}; "
          f"{warm.get('busy_rate', 0):,.0f} per busy second; path: cache hit, kept view, "
          f"{warm.get('cert_decodes', 0):,} decodes in {warm['cache_hits']:,} hits; "
          f"generator busy {warm.get('generator_busy') or 0:.0%})",
          f"{warm['rate'] / io['per_cpu_s']:.2f} x (2)" if io else "",
          f">= 1 Mpps {'met' if warm['ndr'] >= 1e6 else 'MISSED'}")
        conf = warm["search"].get("confirm")
        if conf:
            r(4, f"warm, {conf['seconds']:.0f} s at 0.9 x NDR ({conf['rate']:,.0f}/s)",
              f"unserved {conf['result']['unserved']}", "", f"zero loss {'met' if conf['pass'] else 'MISSED'}")
    mconf = res["mix"]["warm90"]["search"].get("confirm") if "mix" in res else None
    if mconf:
        r(4, f"90/10 mix, {mconf['seconds']:.0f} s at 0.9 x NDR ({mconf['rate']:,.0f}/s)",
          f"unserved {mconf['result']['unserved']}", "", f"zero loss {'met' if mconf['pass'] else 'MISSED'}")
    for name in ("warm", "cold", "mix90") if "latency" in res else ():
        for p in res["latency"][name]["points"]:
            if p["load"] not in (0.1, 0.5, 0.9):
                continue
            L = p["result"]["latency_us"]
            note = ""
            if name == "mix90":
                W = p["result"]["kinds"]["warm"]["latency_us"]
                note = f"; warm ones p99 {W['p99']:.1f}"
            tgt = ""
            if p["load"] == 0.5:
                if name == "warm":
                    tgt = f"p99 < 50 us {'met' if L['p99'] < 50 else 'MISSED'}"
                elif name == "mix90":
                    W = p["result"]["kinds"]["warm"]["latency_us"]
                    tgt = f"warm p99 < 50 us {'met' if W['p99'] < 50 else 'MISSED'}"
                elif "cold" in res:
                    one = max(1e6 / res["cold"][a]["crypto"] for a in ALGS)
                    tgt = f"p99 < 3 x verify ({3 * one:.0f} us) {'met' if L['p99'] < 3 * one else 'MISSED'}"
            r(5, f"latency {name} at {p['load']:.0%} of NDR ({p['rate']:,.0f}/s)",
              f"p50 {L['p50']:.1f} / p99 {L['p99']:.1f} / p99.9 {L['p99.9']:.1f} us{note}",
              "", tgt)
    m = res.get("memory")
    if m:
        loaded = (f", {m['loaded']['VmRSS'] / 1024:.0f} MiB loaded"
                  if "loaded" in m else "")
        r(6, "memory: kpgate resident set",
          f"{m['idle']['VmRSS'] / 1024:.0f} MiB idle{loaded}"
          + (f" (+{m['idle'].get('HugetlbPages', 0) / 1024:.0f} MiB hugepages)"
             if m['idle'].get('HugetlbPages') else ""), "", "")
        r(6, "memory: per cache entry",
          f"{m['bytes_per_entry']:,.0f} bytes measured (RSS, 4096 vs 65536 entries); "
          f"{res['crypto']['cache_entry_bytes']} by kpg_cache_entry_bytes()", "", "")
    if "ledger" in res:
        rows.extend(ledger_rows(res["ledger"]))
    return "\n".join(rows)


def ledger_rows(led):
    """Stage 7: per chain its served rate per CPU-second (mean and range of
    its runs) and latency at the shared offered rate; what the plugin
    costs a request, and what the Redis store costs beyond the file store,
    against how far runs of one chain differ."""
    def unserved(x):
        return f", {x['unserved']:,} unserved" if x["unserved"] else ""

    v = led["variants"]
    n = len(v["none"]["rates"])
    spread = max((max(x["rates"]) - min(x["rates"])) / x["rate"] for x in v.values())
    names = {"none": "validity alone (no ledger)",
             "file": "validity + duplicate, file store",
             "redis": "validity + duplicate, Redis store (shared)"}
    rows = []
    for k in LEDGER_VARIANTS:
        x = v[k]
        result = (f"{x['rate']:,.0f} req/s per CPU-second ({min(x['rates']):,.0f} to "
                  f"{max(x['rates']):,.0f} in {n} runs, {x['core_share']:.0%} of the "
                  f"core); p50 {x['p50']:.1f} / p99 {x['p99']:.1f} us at "
                  f"{led['offered_rate']:,.0f}/s{unserved(x)}")
        against = target = ""
        if k == "file":
            result += f"; the plugin {1e9 / x['rate'] - 1e9 / v['none']['rate']:+,.0f} ns/request"
            against = f"{x['rate'] / v['none']['rate']:.2f} x no ledger"
        elif k == "redis":
            d = x["rate"] / v["file"]["rate"] - 1
            result += f"; {1e9 / x['rate'] - 1e9 / v['file']['rate']:+,.0f} ns/request over the file store"
            against = f"{x['rate'] / v['file']['rate']:.2f} x file store"
            target = (f"no measurable cost: {'met' if d >= -spread else 'MISSED'} "
                      f"({d:+.1%}; runs of one chain differ by up to {spread:.1%})")
        rows.append(f"| 7 | ledger, warm: {names[k]} | {result} | {against} | {target} |")
    return rows


def plots(res, out):
    """latency.png (p99 against offered load) and algorithms.png (bars)."""
    term = "pngcairo size 900,520 font 'sans,10'"
    if "pngcairo" not in subprocess.run(["gnuplot", "-e", "set terminal"],
                                        capture_output=True, text=True).stdout + \
            subprocess.run(["gnuplot", "-e", "set terminal"],
                           capture_output=True, text=True).stderr:
        term = "png size 900,520"
    d = tempfile.mkdtemp(prefix="kpgate-plot-")
    for name in ("warm", "cold", "mix90"):
        with open(os.path.join(d, f"{name}.dat"), "w") as f:
            for p in res["latency"][name]["points"]:
                L = p["result"]["latency_us"]
                f.write(f"{p['load'] * 100:.0f} {p['rate']:.0f} {L['p50']} {L['p99']} {L['p99.9']}\n")
    with open(os.path.join(d, "algs.dat"), "w") as f:
        for alg in ALGS:
            c = res["cold"][alg]
            f.write(f"{alg} {c['crypto']} {c['rate']:.0f} {c['ndr']:.0f}\n")
    script = f"""
set terminal {term}
set output '{out}/latency.png'
set title 'kpgate latency against offered load (1 worker lcore, memif)'
set xlabel 'offered load, % of NDR'
set ylabel 'latency, us'
set logscale y
set grid
set key outside right top
set arrow from 10,50 to 90,50 nohead dt 3 lc rgb 'red'
set label 'warm p99 target 50 us' at 12,60 tc rgb 'red'
plot '{d}/warm.dat' u 1:4 w lp lw 2 t 'warm p99', \\
     '{d}/warm.dat' u 1:3 w lp dt 2 t 'warm p50', \\
     '{d}/mix90.dat' u 1:4 w lp lw 2 t '90/10 mix p99', \\
     '{d}/mix90.dat' u 1:3 w lp dt 2 t '90/10 mix p50', \\
     '{d}/cold.dat' u 1:4 w lp lw 2 t 'cold p99', \\
     '{d}/cold.dat' u 1:3 w lp dt 2 t 'cold p50'
unset logscale y
unset arrow
unset label
set output '{out}/algorithms.png'
set title 'cold requests per algorithm: verify limit against kpgate (1 lcore)'
set xlabel ''
set ylabel 'per second'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set yrange [0:*]
set key top right
plot '{d}/algs.dat' u 2:xtic(1) t 'verify limit (kpg-bench-verify)', \\
     '' u 3 t 'kpgate cold, saturated', '' u 4 t 'kpgate cold, NDR'
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    shutil.rmtree(d, ignore_errors=True)


# --- results of several runs --------------------------------------------------

RUN_KEYS = ("when", "commit", "machine", "hugepages", "trial_s", "confirm_s",
            "latency_s", "only", "seconds", "disturbed_runs_repeated")


def run_meta(res):
    """What says how a run's figures were made."""
    return {k: res[k] for k in RUN_KEYS if k in res}


def stage_runs(res):
    """Per stage, the run its figures in res come from (results written
    before runs were recorded per stage are one run's)."""
    if "stages" in res:
        return dict(res["stages"])
    return {st: run_meta(res) for st, (_, keys) in STAGES.items()
            if any(k in res for k in keys)}


def merge(prev, new, stages):
    """prev's figures, those of the stages new ran replaced by new's."""
    out = dict(prev)
    out["stages"] = stage_runs(prev)
    for st in stages:
        for k in STAGES[st][1]:
            out.pop(k, None)
            if k in new:
                out[k] = new[k]
        out["stages"][st] = run_meta(new)
    return out


def provenance(res):
    """The line above the table: the full run, then each partial run whose
    figures replaced some rows."""
    runs = {}
    for st, meta in stage_runs(res).items():
        runs.setdefault(json.dumps(meta, sort_keys=True), (meta, []))[1].append(st)
    full = [m for m, _ in runs.values() if not m.get("only")]
    main = full[0] if full else max(runs.values(), key=lambda r: len(r[1]))[0]
    m = main.get("machine", res.get("machine", {}))
    text = (f"_Last {'full ' if len(runs) > 1 else ''}run: {main['when']} on {m.get('cpu', '?')} ({m.get('cores', '?')} "
            f"cores), DPDK {m.get('dpdk', '?')}, "
            f"{'2 MiB hugepages' if main.get('hugepages') else 'no hugepages'}, "
            f"trials of {main['trial_s']} s, confirmation runs of "
            f"{main['confirm_s']} s; the whole run"
            f"{' (--only ' + ','.join(main['only']) + ')' if main.get('only') else ''} "
            f"took {main['seconds'] / 60:.1f} min._")
    for meta, sts in runs.values():
        if meta is main:
            continue
        named = sorted(STAGES[st][0] for st in sts if STAGES[st][0])
        text += (f"\n_Rows {', '.join(map(str, sorted(set(named))))} "
                 f"({', '.join(sts)}): a later run of `--only {','.join(meta['only'])}`, "
                 f"{meta['when']}"
                 f"{', source ' + meta['commit'] if meta.get('commit') else ''}, "
                 f"{'2 MiB hugepages' if meta.get('hugepages') else 'no hugepages'}, "
                 f"latency points of {meta.get('latency_s', '?')} s; it took "
                 f"{meta['seconds'] / 60:.1f} min._")
    return text


def update_doc(path, res, tbl, out):
    pictures = "".join(f"\n\n![{alt}](perf/{png})" for alt, png in
                       (("latency against load", "latency.png"),
                        ("per algorithm", "algorithms.png"))
                       if os.path.exists(os.path.join(out, png)))
    block = f"{BEGIN}\n{provenance(res)}\n\n{tbl}{pictures}\n{END}"
    try:
        text = open(path).read()
    except FileNotFoundError:
        text = f"# kpgate performance\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text += "\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def parse_stages(text):
    """--only: the stages named, and what their figures are computed
    against; None: all."""
    if text is None:
        return None
    want = {w.strip() for w in text.split(",") if w.strip()}
    unknown = want - set(STAGES)
    if unknown or not want:
        raise argparse.ArgumentTypeError(
            f"stages are {', '.join(STAGES)} (not {', '.join(sorted(unknown)) or 'none'})")
    while True:
        more = {n for st in want for n in NEEDS.get(st, [])} - want
        if not more:
            return want
        want |= more


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--out", default=os.path.join(TOP, "docs", "perf"))
    ap.add_argument("--doc", default=os.path.join(TOP, "docs", "performance.md"))
    ap.add_argument("--only", metavar="STAGES",
                    help="comma list of stages to run: " + ",".join(STAGES) +
                         " (with what they need); the others' figures stay")
    ap.add_argument("--trial", type=float, default=2.0,
                    help="seconds per search trial (default 2; the issue's 10 s "
                         "trials make the run last about 25 min)")
    ap.add_argument("--confirm", type=float, default=60.0,
                    help="seconds at 0.9 x NDR, warm and 90/10 mix (default 60)")
    ap.add_argument("--latency-s", type=float, default=4.0,
                    help="seconds per latency point (default 4)")
    ap.add_argument("--crypto-s", type=float, default=1.0)
    ap.add_argument("--certs", type=int, default=16384,
                    help="certificates per algorithm (default 16384: 4 x the cache)")
    ap.add_argument("--cache", type=int, default=4096,
                    help="kpgate cache entries for the runs (default 4096)")
    ap.add_argument("--quick", action="store_true",
                    help="1 s trials, 10 s confirmations, 2 s latency points")
    ap.add_argument("--no-huge", dest="huge", action="store_false")
    ap.add_argument("--no-perf", action="store_true")
    ap.add_argument("--wait-quiet", type=float, default=600,
                    help="seconds to wait for the load average to fall below "
                         "0.5 before starting (default 600)")
    a = ap.parse_args()
    try:
        picked = parse_stages(a.only)
    except argparse.ArgumentTypeError as e:
        ap.error(f"--only: {e}")
    stages = set(STAGES) if picked is None else picked
    if a.no_perf:
        stages.discard("profile")
    if not stages:
        ap.error("--only profile with --no-perf: nothing to run")
    a.only = None if picked is None else [st for st in STAGES if st in stages]
    if a.only:
        log(f"stages: {', '.join(a.only)}")
    # SIGTERM unwinds like Ctrl-C: processes stopped, hugepages released.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("run.py: terminated"))
    if a.quick:
        a.trial, a.confirm, a.latency_s = 1.0, 10.0, 2.0
    if os.geteuid() != 0:
        sys.exit("run.py: run as root (DPDK, hugepages, perf)")
    for exe in ("gateway/kpgate", "tools/loadgen/kpgate-loadgen", "core/kpg-bench-verify"):
        if not os.path.exists(os.path.join(a.build, exe)):
            sys.exit(f"run.py: {a.build}/{exe} missing: build first (tools/build.sh)")
    if "ledger" in stages and not shutil.which("redis-server"):
        sys.exit("run.py: redis-server missing (tools/install-deps.sh installs it)")
    prev = None
    if a.only:
        try:
            with open(os.path.join(a.out, "results.json")) as f:
                prev = json.load(f)
        except (OSError, ValueError) as e:
            log(f"no earlier results to keep ({e}): {a.doc} stays as it is")
    os.makedirs(a.out, exist_ok=True)
    # The pictures are of the cold and latency stages together.
    draw = {"cold", "latency"} <= stages and ensure_gnuplot()
    ours = False
    if a.huge:
        try:
            ours = setup_hugepages()
        except RuntimeError as e:
            log(f"{e}: running without hugepages")
            a.huge = False
    deadline = time.time() + a.wait_quiet
    if os.getloadavg()[0] > 0.5 and a.wait_quiet > 0:
        log(f"load average {os.getloadavg()[0]:.2f}: waiting up to "
            f"{a.wait_quiet:.0f} s for the machine to be quiet")
    while os.getloadavg()[0] > 0.5 and time.time() < deadline:
        time.sleep(5)
    if os.getloadavg()[0] > 0.5:
        log(f"warning: load average {os.getloadavg()[0]:.2f}: other processes "
            "share the two cores and will show in the figures")
    b = Bench(a)
    try:
        res = b.run(stages)
    finally:
        if ours:
            teardown_hugepages()
        shutil.rmtree(b.dir, ignore_errors=True)
    res["stages"] = {st: run_meta(res) for st in STAGES if st in stages}
    ran = table(res)
    if prev is not None:
        res = merge(prev, res, stages)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    tbl = table(res)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(tbl + "\n")
    if draw:
        plots(res, a.out)
    if prev is not None or not a.only:
        update_doc(a.doc, res, tbl, a.out)
    print(ran)
    log(f"done in {b.res['seconds'] / 60:.1f} min; {a.out}/results.json"
        + (f", {a.doc}" if prev is not None or not a.only else ""))


if __name__ == "__main__":
    main()
