#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora, tests/fuzz/corpus/NAME/.

Genuine material comes from a demo PKI made on the spot
(tools/make-demo-pki.sh: trust list, certificates, requests, config); the
malformed shapes from tests/malformed_frames.py, the corpus the integration
test sends through the real gateway, and from spoiling the genuine bytes
here. Each seed has the input layout its harness's header describes.
Saved crash reproducers (crash-*) are kept; every other file is rewritten.

usage: make_seeds.py BUILD_DIR
"""
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
TOP = os.path.dirname(TESTS)
sys.path.insert(0, TESTS)
import malformed_frames as mf  # noqa: E402
from malformed_frames import ld, pb_encode, pb_fields, uv  # noqa: E402
from rawframes import GW4, GW6, ST4, ST6, ST_MAC, csum, eth, ipv4  # noqa: E402
from station import request  # noqa: E402

FUZZ_NOW = 1795500000            # fuzz_engine.c, fuzz_trust.c
GW_MAC = bytes.fromhex("020000000001")   # fuzz_pkt.c


def udp_payload(frame):
    """The UDP payload of an untagged IPv4 or IPv6 frame we built."""
    et = struct.unpack("!H", frame[12:14])[0]
    l4 = 14 + (frame[14] & 15) * 4 if et == 0x0800 else 54
    return frame[l4 + 8:]


class Corpus:
    def __init__(self, name):
        self.dir = os.path.join(HERE, "corpus", name)
        os.makedirs(self.dir, exist_ok=True)
        for f in os.listdir(self.dir):
            if not f.startswith("crash-"):
                os.unlink(os.path.join(self.dir, f))
        self.n = 0

    def add(self, name, data):
        with open(os.path.join(self.dir, name), "wb") as f:
            f.write(data)
        self.n += 1


# -- packets ------------------------------------------------------------------
def pkt_seeds(kinds, req):
    c = Corpus("pkt")
    for k in kinds:
        c.add(f"bad-{k.name}", b"\0\0" + k.frame)
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, ST_MAC, ST4,
                      b"\0" * 6, GW4)
    c.add("arp-request", b"\0\0" + eth(b"\xff" * 6, 0x0806, arp))
    echo = bytearray(b"\x08\0\0\0\0\x01\0\x01" + b"ping" * 8)
    echo[2:4] = struct.pack("!H", csum(bytes(echo)))
    c.add("icmp4-echo", b"\0\0" + eth(GW_MAC, 0x0800, ipv4(bytes(echo), proto=1)))
    c.add("udp4-request", b"\0\0" + eth(GW_MAC, 0x0800, ipv4(mf.udp(req))))
    c.add("udp4-request-half-reply", b"\x10\0" + eth(GW_MAC, 0x0800, ipv4(mf.udp(req))))
    c.add("udp6-request", b"\0\0" + eth(GW_MAC, 0x86DD,
                                        mf.ipv6(mf.udp(req, src=ST6, dst=GW6))))
    c.add("udp4-request-vlan100", b"\x01\0" + eth(GW_MAC, 0x8100, b"\0\x64\x08\x00"
                                                  + ipv4(mf.udp(req))))
    # IPv4 options: the answer leaves them behind
    u = mf.udp(req)
    h = struct.pack("!BBHHHBBH4s4s", 0x46, 0, 24 + len(u), 1, 0, 64, 17, 0, ST4, GW4)
    h += b"\x01\x01\x01\x00"
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    c.add("udp4-request-ip-options", b"\0\0" + eth(GW_MAC, 0x0800, h + u))

    def icmp6(body, dst, hop=64):
        ic = bytearray(body)
        pseudo = ST6 + dst + struct.pack("!I3xB", len(ic), 58)
        ic[2:4] = struct.pack("!H", csum(pseudo + bytes(ic)))
        return struct.pack("!IHBB16s16s", 6 << 28, len(ic), 58, hop, ST6, dst) + bytes(ic)

    c.add("icmp6-echo", b"\0\0" + eth(GW_MAC, 0x86DD,
                                      icmp6(b"\x80\0\0\0\0\x01\0\x01ping", GW6)))
    snm = bytes.fromhex("ff0200000000000000000001ff000001")
    ns = b"\x87\0\0\0\0\0\0\0" + GW6
    mcast = bytes.fromhex("3333ff000001")
    c.add("nd-solicit-slla", b"\0\0" + eth(mcast, 0x86DD, icmp6(
        ns + b"\x01\x01" + ST_MAC, snm, 255)))
    # without an option the advertisement is 8 bytes longer than the frame
    c.add("nd-solicit-no-tailroom", b"\0\0" + eth(mcast, 0x86DD, icmp6(ns, snm, 255)))
    c.add("nd-solicit-tailroom", b"\0\x10" + eth(mcast, 0x86DD, icmp6(ns, snm, 255)))
    return c.n


# -- requests and certificates -------------------------------------------------
def request_seeds(kinds, pki, certs):
    c = Corpus("request")
    for name in ("genuine.req", "malformed.req"):
        c.add(name, read(pki, name))
    for name, signed in certs.items():
        c.add(f"request-{name}", request(7, "gate-1", signed, FUZZ_NOW))
        c.add(f"cert-{name}", cert_of(signed))
    for k in kinds:
        if any(key.split(".")[0] in ("request", "error") for key in k.counts):
            c.add(f"bad-{k.name}", udp_payload(k.frame))
    return c.n


def cert_of(signed):
    return dict((n, v) for n, _, v in pb_fields(signed))[1]


# -- the engine ----------------------------------------------------------------
def engine_seeds(kinds, certs):
    c = Corpus("engine")
    genuine = certs["genuine"]
    req = request(7, "gate-1", genuine, FUZZ_NOW)
    for snap, label in ((0, "default"), (1, "statuses"), (2, "none"), (3, "stale")):
        c.add(f"raw-{label}", bytes([snap]) + req)
    for k in kinds:
        if any(key.split(".")[0] in ("request", "error") for key in k.counts):
            c.add(f"raw-bad-{k.name}", b"\0" + udp_payload(k.frame))
    tails = {
        "": b"",
        "-measured": ld(4, uv(1, 1) + uv(2, 1234567) + ld(3, b"SEAL-1")),
        "-hmac": ld(15, b"\x11" * 32),
        "-junk": b"\x08\x01",
    }
    algs = {"ed25519": 0x04, "ecdsa": 0x0C, "rsa": 0x1C}
    for name, signed in certs.items():
        cert = cert_of(signed)
        for tail_name, tail in tails.items():
            c.add(f"signed-{name}{tail_name}",
                  b"\x04" + struct.pack("!H", len(cert)) + cert + tail)
    cert = cert_of(genuine)
    body = struct.pack("!H", len(cert)) + cert
    for alg, flags in algs.items():
        c.add(f"signed-genuine-{alg}", bytes([flags]) + body)
        c.add(f"signed-genuine-{alg}-statuses", bytes([flags | 1]) + body)
    c.add("signed-genuine-bad-signature", b"\x44" + body)
    c.add("signed-genuine-overloaded", b"\x84" + body)
    c.add("signed-genuine-ecdsa-bad-signature", b"\x4C" + body)
    return c.n


# -- trust lists ---------------------------------------------------------------
def trust_seeds(pki):
    c = Corpus("trust")
    signed = read(pki, "trust.kptl")
    env = pb_fields(signed)
    body = dict((n, v) for n, _, v in env)[1]
    fields = pb_fields(body)
    keys = [f for f in fields if f[0] == 4]
    c.add("list-demo", b"\0" + signed)
    c.add("list-demo-reload", b"\2" + signed)
    c.add("list-short-signature", b"\0" + pb_encode(
        [(n, w, v[:63] if n == 2 else v) for n, w, v in env]))
    c.add("list-truncated", b"\0" + signed[:len(signed) // 2])
    c.add("body-demo", b"\1" + body)
    c.add("body-demo-not-newer", b"\3" + body)

    def key_with(k, num, value):
        return (4, 2, pb_encode([(n, w, value if n == num else v)
                                 for n, w, v in pb_fields(k[2])]))

    def spki_of(k):
        return dict((n, v) for n, _, v in pb_fields(k[2]))[3]

    def with_spki(k, spki):
        """The key with another public key and the key id that matches it,
        so the list gets as far as reading the key."""
        k = key_with(k, 3, spki)
        return key_with(k, 1, hashlib.sha256(spki).digest()[:16])

    def swap(num, value):
        return [(n, w, value if n == num else v) for n, w, v in fields]

    variants = {
        "version-zero": swap(1, 0),
        "stale": swap(3, 1000),
        "out-of-order": [fields[1], fields[0]] + fields[2:],
        "no-keys": [f for f in fields if f[0] != 4],
        "duplicate-key": sorted(fields + [keys[0]], key=lambda f: f[0]),
        "key-id-mismatch": [key_with(f, 1, b"\0" * 16) if f is keys[0] else f
                            for f in fields],
        "key-unknown-algorithm": [key_with(f, 2, 9) if f is keys[0] else f
                                  for f in fields],
        "key-wrong-algorithm": [key_with(f, 2, 3) if f is keys[0] else f
                                for f in fields],
        "key-spki-cut": [with_spki(f, spki_of(f)[:40]) if f is keys[0] else f
                         for f in fields],
        "key-spki-not-der": [with_spki(f, b"\x30\x03\x02\x01\x01") if f is keys[0]
                             else f for f in fields],
        "key-bad-participant": [key_with(f, 4, b"zz") if f is keys[0] else f
                                for f in fields],
        "key-revoked": [key_with(f, 8, 3) if f is keys[0] else f for f in fields],
        "participant-bad-status": fields + [(5, 2, pb_encode([(1, 2, b"XX"), (2, 0, 7)]))],
    }
    for name, fs in variants.items():
        c.add(f"body-{name}", b"\1" + pb_encode(fs))
    return c.n


# -- configuration -------------------------------------------------------------
def config_seeds(pki):
    c = Corpus("config")
    with open(os.path.join(TOP, "deploy", "kpgate.conf"), "rb") as f:
        c.add("deploy", f.read())
    c.add("demo", read(pki, "kpgate.conf"))
    bad = {
        "empty": b"",
        "unknown-key": b"gateway: { udp_port = 7102; colour = \"red\"; };\n",
        "wrong-type": b"gateway: { udp_port = \"7102\"; };\n",
        "out-of-range": b"gateway: { burst = 65; };\n",
        "huge-integer": b"gateway: { cache_entries = 99999999999999999999; };\n",
        "duplicate": b"gateway: { burst = 8; burst = 16; };\n",
        "no-ports": b"ports: ( );\n",
        "bad-address": b"ports: ( { address = \"192.0.2.300\"; } );\n",
        "bad-address6": b"ports: ( { address6 = \"2001:db8::1::2\"; } );\n",
        "vlan-out-of-range": b"ports: ( { address = \"192.0.2.1\"; vlan = 5000; } );\n",
        "port-without-address": b"ports: ( { vlan = 5; } );\n",
        "seventeen-ports": b"ports: (" + b",".join(
            b"{ address = \"192.0.2.%d\"; }" % i for i in range(1, 18)) + b");\n",
        "three-anchors": b"trust: { list = \"t\"; anchors = [\"a\", \"b\", \"c\"]; };\n",
        "trust-without-list": b"trust: { anchors = [\"a\"]; };\n",
        "backend-unknown": b"trust: { list = \"t\"; anchors = [\"a\"]; backend = \"gpu\"; };\n",
        "plugins-not-list": b"plugins = 5;\n",
        "stations-group": b"stations: { a = 1; };\n",
        "idle-negative": b"gateway: { idle: { polls = 1; sleep_us = -1; }; };\n",
        "unterminated-string": b"gateway: { checkpoint = \"BE-ANR;\n",
        "deep-groups": b"gateway: " + b"{ a: " * 64 + b"1" + b" }" * 64 + b";\n",
        "long-path": b"trust: { list = \"" + b"x" * 5000 + b"\"; anchors = [\"a\"]; };\n",
        "long-checkpoint": b"gateway: { checkpoint = \"" + b"C" * 100 + b"\"; };\n",
        "nul-byte": b"gateway: { checkpoint = \"A\0B\"; };\n",
        "syntax": b"gateway = { = ; }\n",
        # found by fuzz_config: libconfig leaks the string (lsan.supp)
        "string-then-syntax-error": b'trust: { list = "t"; ancho "c"]; };\n',
    }
    for name, text in bad.items():
        c.add(f"bad-{name}", text)
    return c.n


def read(d, name):
    with open(os.path.join(d, name), "rb") as f:
        return f.read()


def main(argv):
    build = os.path.abspath(argv[1])
    pki = tempfile.mkdtemp(prefix="kpgate-seeds-")
    try:
        subprocess.run([os.path.join(TOP, "tools", "make-demo-pki.sh"), build, pki],
                       check=True, timeout=120, stdout=subprocess.DEVNULL)
        certs = {n[:-4]: read(pki, n) for n in sorted(os.listdir(pki))
                 if n.endswith(".kpc")}
        genuine = certs["genuine"]
        kinds = mf.kinds(GW_MAC, genuine, FUZZ_NOW)
        counts = {
            "pkt": pkt_seeds(kinds, request(7, "gate-1", genuine, FUZZ_NOW)),
            "request": request_seeds(kinds, pki, certs),
            "engine": engine_seeds(kinds, certs),
            "trust": trust_seeds(pki),
            "config": config_seeds(pki),
        }
    finally:
        shutil.rmtree(pki, ignore_errors=True)
    for name, n in counts.items():
        print(f"{name}: {n} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
