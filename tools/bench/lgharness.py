"""Runs kpgate (or dpdk-testpmd as a plain reflector) and kpgate-loadgen
face to face over a memif pair on one machine, for the loadgen test and the
benchmark.

The gateway side is the memif server (it listens on the socket, an
abstract one by default in DPDK 22.11), the load generator the client. Each DPDK process gets its own --file-prefix and the
socket its own path, both removed afterwards, so runs never meet another
DPDK process on the machine. Every process runs under a timeout.
"""

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import time

GW4, GW6, GW_PORT = "192.0.2.1", "2001:db8::1", 7102
RUN_DIR = "/var/run/dpdk"


def eal_memory(huge):
    """EAL memory arguments: 2 MiB hugepages when mounted, else none."""
    if huge:
        return ["--huge-dir", "/dev/hugepages", "-m", "512"]
    return ["--no-huge", "-m", "1024"]


def cleanup_prefix(prefix):
    """The runtime directory and any hugepage files a killed process left."""
    shutil.rmtree(os.path.join(RUN_DIR, prefix), ignore_errors=True)
    for f in glob.glob(f"/dev/hugepages/{prefix}map_*"):
        os.unlink(f)


def make_pki(build, directory, certs=4096, rogue=1024, timeout=300):
    """Authorities, trust list and signed certificates for the generator."""
    subprocess.run([os.path.join(build, "tools", "loadgen", "kpgate-loadgen"),
                    "--make-pki", directory, "--certs", str(certs),
                    "--rogue-certs", str(rogue)],
                   check=True, capture_output=True, text=True, timeout=timeout)


def write_conf(directory, name="kpgate.conf", cache_entries=16384,
               idle_polls=64, idle_sleep_us=0, cold_queue=1024,
               verifies_per_loop=8, extra=""):
    """A kpgate config using the PKI in directory; returns its path."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(f"""# written by tools/bench/lgharness.py
gateway: {{
  udp_port = {GW_PORT};
  cache_entries = {cache_entries};
  cold_queue = {cold_queue};
  verifies_per_loop = {verifies_per_loop};
  idle: {{ polls = {idle_polls}; sleep_us = {idle_sleep_us}; }};
}};
ports: ( {{ address = "{GW4}"; address6 = "{GW6}"; }} );
trust: {{
  list = "trust.kptl";
  anchors = [ "anchor.pub" ];
}};
{extra}""")
    return path


class Peer:
    """A DPDK process on the server side of the memif link."""

    ready_text = None

    def __init__(self, prefix, sock, log, lcores, huge):
        self.prefix = prefix
        self.sock = sock
        self.log_path = log
        self.lcores = lcores
        self.huge = huge
        self.proc = None
        self.log = None

    def command(self):
        raise NotImplementedError

    def start(self, timeout=60, limit_s=3600):
        for p in (self.sock,):
            if os.path.exists(p):
                os.unlink(p)
        cleanup_prefix(self.prefix)
        cmd = ["timeout", "--signal=KILL", str(int(limit_s))] + self.command()
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.command()[0]} exited with "
                                   f"{self.proc.returncode}:\n{self.log_text()}")
            if self.ready_text in self.log_text():
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"not ready in {timeout} s:\n{self.log_text()}")

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def pid(self):
        """The DPDK process itself (the child of `timeout`)."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)],
                             capture_output=True, text=True).stdout.split()
        return int(out[0]) if out else None

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None:
            return None
        pid = self.pid()
        if self.proc.poll() is None and pid:
            os.kill(pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"did not stop within {timeout} s")
        self.cleanup()
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            pid = self.pid()
            if pid:
                os.kill(pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.cleanup()

    def cleanup(self):
        if self.log:
            self.log.close()
            self.log = None
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        cleanup_prefix(self.prefix)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


# log2 of the memif ring slots, both ends (memif's own default: 10, 1024
# slots). None keeps the default; the benchmark sets it (MEMIF_RSIZE).
MEMIF_RSIZE = None


def memif_args(rsize):
    return f",rsize={rsize}" if rsize else ""


class Gateway(Peer):
    """kpgate as the memif server."""

    ready_text = "kpgate: ready"

    def __init__(self, build, conf, prefix, sock, log, lcores="1", huge=False):
        super().__init__(prefix, sock, log, lcores, huge)
        self.build = build
        self.conf = conf

    def command(self):
        return [os.path.join(self.build, "gateway", "kpgate"), "--no-pci",
                *eal_memory(self.huge), "--file-prefix", self.prefix,
                "-l", self.lcores,
                "--vdev", f"net_memif0,role=server,socket={self.sock}"
                f"{memif_args(MEMIF_RSIZE)}",
                "--", "-c", self.conf]

    def telemetry(self, command):
        """One command over DPDK's telemetry socket; returns its value."""
        path = os.path.join(RUN_DIR, self.prefix, "dpdk_telemetry.v2")
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.settimeout(5)
            s.connect(path)
            json.loads(s.recv(16384))
            s.send(command.encode())
            reply = json.loads(s.recv(1 << 20))
        return reply[command.split(",")[0]]

    def memory_kib(self):
        """VmRSS and HugetlbPages of the kpgate process, in KiB."""
        out = {}
        with open(f"/proc/{self.pid()}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "HugetlbPages"):
                    out[k] = int(v.split()[0])
        return out


class Reflector(Peer):
    """dpdk-testpmd in 5tswap mode: swaps MAC, IP and UDP addresses and
    sends every packet back; the I/O limit of the same link."""

    ready_text = "packet forwarding packets/burst"

    def __init__(self, prefix, sock, log, lcores="0,1", huge=False, queues=1):
        super().__init__(prefix, sock, log, lcores, huge)
        self.queues = queues

    def command(self):
        # The first lcore only waits (stats every hour); the second forwards.
        # Line-buffered, so the ready line reaches the log at once.
        return ["stdbuf", "-oL", "dpdk-testpmd", "--no-pci", *eal_memory(self.huge),
                "--file-prefix", self.prefix, "-l", self.lcores,
                "--vdev", f"net_memif0,role=server,socket={self.sock}"
                f"{memif_args(MEMIF_RSIZE)}",
                "--", "--forward-mode=5tswap", "--nb-cores=1",
                f"--rxq={self.queues}", f"--txq={self.queues}",
                "--total-num-mbufs=16384", "--stats-period", "3600"]


def loadgen(build, prefix, sock, args, lcores="0", huge=False, timeout=120,
            zero_copy=True):
    """Runs kpgate-loadgen as the memif client with --json; returns
    (exit status, parsed JSON or None, stderr). zero_copy: the client
    hands its own mbufs to the server instead of copying every frame into
    and out of the shared rings (memif needs --single-file-segments for
    it, with or without hugepages); the server copies as before."""
    cleanup_prefix(prefix)
    vdev = f"net_memif0,role=client,socket={sock}{memif_args(MEMIF_RSIZE)}"
    zc = ["--single-file-segments"] if zero_copy else []
    if zero_copy:
        vdev += ",zero-copy=yes"
    cmd = ["timeout", "--signal=INT", "--kill-after=10", str(int(timeout)),
           os.path.join(build, "tools", "loadgen", "kpgate-loadgen"),
           "--no-pci", *eal_memory(huge), *zc, "--file-prefix", prefix,
           "-l", lcores, "--vdev", vdev,
           "--", "--json", *map(str, args)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=timeout + 30)
    finally:
        cleanup_prefix(prefix)
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        doc = None
    return r.returncode, doc, r.stderr
