#!/usr/bin/env python3
"""A scanner station that sends many requests, for the traffic tests.

Encodes scan requests itself (docs/protocol.md: the 4-byte header, then a
ScanRequest) around the signed certificates of .kpc files, sends them at a
fixed rate with unique request ids, reads the answers as they come, and
prints one JSON summary: sent, answered, and the decision and error of each
answer by request id. Bounded: a count, a rate and a final wait.

With --hmac-key (the station's 64 hex digits) each request ends with its
HMAC-SHA-256 (field 15), and an answer counts only when its own HMAC
verifies; the others are counted under "bad_hmac".

usage: station.py HOST KPC [KPC...] --count N --rate R [--wait S]
                  [--station ID] [--hmac-key HEX]
"""
import argparse
import hashlib
import hmac
import json
import select
import socket
import sys
import time


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    tag = varint(num << 3 | wire)
    if wire == 2:
        return tag + varint(len(payload)) + payload
    return tag + payload


def request(request_id, station, signed_cert, scan_time, key=None):
    body = (field(1, 0, varint(request_id)) +
            field(2, 2, station.encode()) +
            field(3, 2, signed_cert) +
            field(5, 0, varint(scan_time & (2**64 - 1))))
    dgram = b"KP\x01\x01" + body
    if key:
        dgram += field(15, 2, hmac.new(key, dgram, hashlib.sha256).digest())
    return dgram


def read_varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def answer(datagram, hmac_key=None):
    """(request_id, decision, error, verdict count) of a ScanResponse;
    with hmac_key, None unless its field 15 verifies over the bytes
    before it."""
    if len(datagram) < 4 or datagram[:2] != b"KP" or datagram[3] != 2:
        return None
    buf, i = datagram[4:], 0
    rid = decision = error = 0
    verdicts = 0
    signed = False
    while i < len(buf):
        start = i
        key, i = read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = read_varint(buf, i)
            if num == 1:
                rid = val
            elif num == 2:
                decision = val
            elif num == 5:
                error = val
        elif wire == 2:
            ln, i = read_varint(buf, i)
            if num == 15 and hmac_key:
                want = hmac.new(hmac_key, datagram[:4 + start],
                                hashlib.sha256).digest()
                signed = (i + ln == len(buf) and
                          hmac.compare_digest(buf[i:i + ln], want))
            i += ln
            if num == 3:
                verdicts += 1
        else:
            return None
    if hmac_key and not signed:
        return None
    return rid, decision, error, verdicts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("kpc", nargs="+")
    ap.add_argument("--port", type=int, default=7102)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--wait", type=float, default=3.0)
    ap.add_argument("--station", default="station-load")
    ap.add_argument("--first-id", type=int, default=1)
    ap.add_argument("--hmac-key", type=bytes.fromhex, default=None)
    a = ap.parse_args()

    certs = [open(p, "rb").read() for p in a.kpc]
    family = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.connect((a.host, a.port))
    s.setblocking(False)

    results = {}
    bad_hmac = 0
    start = time.monotonic()
    interval = 1.0 / a.rate

    def drain(timeout):
        nonlocal bad_hmac
        r, _, _ = select.select([s], [], [], timeout)
        while r:
            try:
                d = s.recv(2048)
            except BlockingIOError:
                break
            ans = answer(d, a.hmac_key)
            if ans:
                results[ans[0]] = ans[1:]
            elif a.hmac_key:
                bad_hmac += 1

    for k in range(a.count):
        rid = a.first_id + k
        due = start + k * interval
        while (now := time.monotonic()) < due:
            drain(due - now)
        s.send(request(rid, a.station, certs[k % len(certs)], int(time.time()),
                       a.hmac_key))
        drain(0)
    deadline = time.monotonic() + a.wait
    while len(results) < a.count and time.monotonic() < deadline:
        drain(0.05)

    print(json.dumps({
        "sent": a.count,
        "answered": len(results),
        "bad_hmac": bad_hmac,
        "seconds": round(time.monotonic() - start, 3),
        "answers": {str(k): v for k, v in results.items()},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
