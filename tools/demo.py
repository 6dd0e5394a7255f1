#!/usr/bin/env python3
"""The kpgate demo: a gateway in software mode answering a scanner station.

Makes a demo PKI (tools/make-demo-pki.sh), starts kpgate on a tap device in
a network namespace of its own, scans a genuine, a forged, a revoked-key, an
expired and a malformed certificate with kpgate-scan, shows the gateway's
counters over DPDK telemetry, then stops it cleanly (--keep leaves it
running until Ctrl-C).
"""
import argparse
import os
import signal
import subprocess
import sys
import time

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(top, "tests"))
from gwharness import Gateway, GW4, GW6  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(top, "build"))
    ap.add_argument("--dir", default=os.path.join(top, "demo"))
    ap.add_argument("--keep", action="store_true",
                    help="keep the gateway running until Ctrl-C")
    a = ap.parse_args()
    a.build, a.dir = os.path.abspath(a.build), os.path.abspath(a.dir)

    subprocess.run(["rm", "-rf", a.dir], check=True)
    subprocess.run([os.path.join(top, "tools", "make-demo-pki.sh"),
                    a.build, a.dir], check=True)
    conf = os.path.join(a.dir, "kpgate.conf")
    with open(conf, "a") as f, \
            open(os.path.join(top, "tools", "demo-policy.conf")) as p:
        f.write(p.read())
    print(f"demo PKI, trust list and policy in {a.dir}")

    gw = Gateway(a.build, conf, "kpgate-demo",
                 log=os.path.join(a.dir, "kpgate.log"))
    with gw:
        gw.start()
        print(f"kpgate is running in namespace {gw.netns}: "
              f"{GW4} / {GW6}, UDP 7102 (log: {gw.log_path})\n")
        scan = os.path.join(a.build, "tools", "kpgate-scan")
        cases = [
            ("genuine certificate, ZA, ECDSA P-256", ["genuine.kpc"]),
            ("genuine certificate, BW, Ed25519, over IPv6",
             ["-H", GW6, "genuine-bw.kpc"]),
            ("genuine certificate, CA, RSA-PSS", ["genuine-ca.kpc"]),
            ("forged certificate (importer altered after signing)",
             ["forged.kpc"]),
            ("certificate signed with a revoked key", ["revoked.kpc"]),
            ("expired certificate", ["expired.kpc"]),
            ("Russian rough at an EU checkpoint (embargoed origin)",
             ["russian.kpc"]),
            ("the genuine ZA certificate again, from another checkpoint",
             ["-s", "GVA-1", "genuine.kpc"]),
            ("malformed request (certificate cut short)",
             ["--raw", "malformed.req"]),
        ]
        for title, args in cases:
            print(f"$ kpgate-scan {' '.join(args)}    # {title}")
            r = gw.ns(scan, "-H", GW4, "-s", "ANR-1", *args, check=False,
                      cwd=a.dir)
            print(r.stdout + r.stderr, end="")
            print(f"(exit status {r.returncode})\n")

        print("policy plugins (/kpgate/plugins):")
        for name, c in gw.telemetry("/kpgate/plugins").items():
            print(f"  {name:12} accept {c['accept']:3}  refer {c['refer']:3}"
                  f"  reject {c['reject']:3}  not applicable "
                  f"{c['not_applicable']}")
        print()
        stats = gw.telemetry("/kpgate/stats")
        print("gateway counters (/kpgate/stats over DPDK telemetry):")
        for k, v in stats.items():
            if isinstance(v, dict):
                v = ", ".join(f"{n} {c}" for n, c in v.items() if c)
            if v:
                print(f"  {k:24} {v}")
        if a.keep:
            print(f"\nkpgate keeps running; scan it with: ip netns exec "
                  f"{gw.netns} {scan} -H {GW4} {a.dir}/genuine.kpc\n"
                  "Ctrl-C stops it.")
            try:
                while gw.proc.poll() is None:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        rc = gw.stop()
        print(f"\nkpgate stopped cleanly (exit status {rc})" if rc == 0
              else f"\nkpgate exited with status {rc}")
        return 0 if rc == 0 else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
