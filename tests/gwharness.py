"""Runs the real kpgate binary in software mode for the demo and the
integration tests.

kpgate runs inside a network namespace made for it, on a DPDK tap device
(net_tap) whose kernel side lives in that namespace too, so every packet
stays on this machine: the station side is 192.0.2.2 / 2001:db8::2 on the
tap interface, the gateway 192.0.2.1 / 2001:db8::1 (documentation
addresses, never routed anywhere). No hugepages, no PCI, idle polling.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import unittest

GW4, GW6 = "192.0.2.1", "2001:db8::1"
ST4, ST6 = "192.0.2.2", "2001:db8::2"
IFACE = "kpg0"


TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_demo_pki(build, directory):
    """The demo PKI, trust list, certificates and kpgate.conf in directory
    (tools/make-demo-pki.sh), as every test starts from."""
    r = subprocess.run([os.path.join(TOP, "tools", "make-demo-pki.sh"),
                        build, directory], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"make-demo-pki.sh failed:\n{r.stdout}{r.stderr}")


class Gateway:
    def __init__(self, build, conf, name, lcores="0,1", log=None):
        self.build = os.path.abspath(build)
        self.conf = os.path.abspath(conf)
        self.name = name
        self.netns = name
        self.lcores = lcores
        self.log_path = log or f"/tmp/{name}.log"
        self.proc = None

    # -- namespace -------------------------------------------------------
    def ns(self, *cmd, check=True, capture=True, timeout=30, **kw):
        """Runs a command inside the gateway's namespace."""
        return subprocess.run(["ip", "netns", "exec", self.netns, *cmd],
                              check=check, capture_output=capture, text=True,
                              timeout=timeout, **kw)

    def _netns_fresh(self):
        subprocess.run(["ip", "netns", "del", self.netns],
                       capture_output=True)
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        self.ns("ip", "link", "set", "lo", "up")

    # -- process ---------------------------------------------------------
    def start(self, timeout=60, extra_args=(), fresh_netns=True):
        if fresh_netns:
            self._netns_fresh()
        cmd = ["ip", "netns", "exec", self.netns,
               os.path.join(self.build, "gateway", "kpgate"),
               "--no-huge", "--no-pci", "-m", "1024",
               "--file-prefix", self.name, "-l", self.lcores,
               "--vdev", f"net_tap0,iface={IFACE}",
               "--", "-c", self.conf, *extra_args]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"kpgate exited with {self.proc.returncode} before it was "
                    f"ready:\n{self.log_text()}")
            if "kpgate: ready" in self.log_text():
                break
            time.sleep(0.1)
        else:
            self.kill()
            raise RuntimeError(f"kpgate not ready in {timeout} s:\n"
                               f"{self.log_text()}")
        self._configure_station_side()
        return self

    def _configure_station_side(self):
        self.ns("ip", "addr", "add", f"{ST4}/24", "dev", IFACE)
        self.ns("ip", "-6", "addr", "add", f"{ST6}/64", "dev", IFACE,
                "nodad")
        self.ns("ip", "link", "set", IFACE, "up")
        # The link needs a moment before the kernel sends on it.
        for _ in range(50):
            out = self.ns("ip", "-o", "link", "show", IFACE).stdout
            if "UP" in out:
                break
            time.sleep(0.1)

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        """SIGTERM and wait; returns kpgate's exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise RuntimeError("kpgate did not stop within "
                                   f"{timeout} s of SIGTERM")
        rc = self.proc.returncode
        self.log.close()
        self.cleanup()
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.cleanup()

    def cleanup(self):
        subprocess.run(["ip", "netns", "del", self.netns],
                       capture_output=True)

    # -- station ---------------------------------------------------------
    def scan(self, *args, host=GW4, timeout=30):
        """Runs kpgate-scan in the namespace; returns (exit status, answer)."""
        cmd = [os.path.join(self.build, "tools", "kpgate-scan"), "--json",
               "-H", host, *map(str, args)]
        r = self.ns(*cmd, check=False, timeout=timeout)
        try:
            answer = json.loads(r.stdout)
        except ValueError:
            answer = {"stdout": r.stdout, "stderr": r.stderr}
        return r.returncode, answer

    def mac(self):
        """The gateway port's MAC, as the station side learns it by ARP
        (for hand-built frames); None if ARP got no answer."""
        self.ns("ping", "-c", "1", "-W", "2", GW4, check=False)
        out = self.ns("ip", "neigh", "show", GW4).stdout
        m = re.search(r"lladdr ([0-9a-f:]{17})", out)
        return m.group(1) if m else None

    # -- telemetry -------------------------------------------------------
    def telemetry(self, command):
        """One command over DPDK's telemetry socket; returns its value."""
        path = f"/var/run/dpdk/{self.name}/dpdk_telemetry.v2"
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.settimeout(5)
            s.connect(path)
            json.loads(s.recv(16384))          # the greeting
            s.send(command.encode())
            reply = json.loads(s.recv(1 << 20))
        return reply[command.split(",")[0]]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.kill()
        self.cleanup()


class GatewayTestCase(unittest.TestCase):
    """A test class around one gateway of its own: the subclass's
    setUpClass makes cls.dir (a temporary directory, often with
    make_demo_pki) and starts cls.gw; both are gone after the last test,
    whatever state setUpClass got to."""

    dir = None
    gw = None

    @classmethod
    def path(cls, name):
        return os.path.join(cls.dir, name)

    @classmethod
    def tearDownClass(cls):
        if cls.gw is not None:
            cls.gw.kill()
        if cls.dir is not None:
            shutil.rmtree(cls.dir, ignore_errors=True)

