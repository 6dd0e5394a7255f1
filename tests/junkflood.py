#!/usr/bin/env python3
"""A junk flood from spoofed sources, and a watch on what the gateway sends.

Run inside the test's network namespace.

  junkflood.py send IFACE GW_MAC KPC --frames N --rate R --stations A,B
      builds N Ethernet frames by hand, each from a random IPv4 source
      address, port and MAC, each a scan request that looks valid and would
      cost a signature verify if the gateway let it through: the ECDSA
      certificate of KPC with the last bytes of its signature changed (so no
      two are alike and none is cached), under a random unknown station id,
      or claiming one of the registered stations without an HMAC, or with a
      random one; a few are cut short. Sends them through an AF_PACKET
      socket at about R frames/s and prints {"sent": N, "kinds": {...}}.

  junkflood.py watch IFACE SECONDS --registered IP,IP
      counts, for SECONDS, every UDP datagram the gateway sends from port
      7102: to registered addresses or to others, and among the latter the
      error answers. Prints one JSON summary. Ctrl-C or SECONDS ends it.
"""
import argparse
import json
import os
import random
import socket
import struct
import sys
import time

from rawframes import GW4, PORT, csum
from station import field, read_varint, varint

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def fields(buf):
    """(number, wire type, value or bytes) of a flat protobuf message."""
    i, out = 0, []
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = read_varint(buf, i)
        elif wire == 2:
            ln, i = read_varint(buf, i)
            v, i = buf[i:i + ln], i + ln
        else:
            raise ValueError("unexpected wire type")
        out.append((num, wire, v))
    return out


def signed_variant(signed, rnd):
    """The SignedCertificate with its DER signature's last two bytes (the
    end of s) changed: still strict DER, s still in range, never valid."""
    out = b""
    for num, wire, v in fields(signed):
        if num == 2:
            v = v[:-2] + rnd.randbytes(2)
        out += field(num, wire, v) if wire == 2 else field(num, wire, varint(v))
    return out


def request(rid, station, signed, hmac=None):
    body = (field(1, 0, varint(rid)) + field(2, 2, station.encode()) +
            field(3, 2, signed) + field(5, 0, varint(int(time.time()))))
    dgram = b"KP\x01\x01" + body
    if hmac is not None:
        dgram += field(15, 2, hmac)
    return dgram


def frame(gw_mac, src_mac, src_ip, sport, payload):
    length = 8 + len(payload)
    pseudo = src_ip + GW4 + struct.pack("!BBH", 0, 17, length)
    u = struct.pack("!HHHH", sport, PORT, length, 0) + payload
    c = csum(pseudo + u) or 0xFFFF
    u = u[:6] + struct.pack("!H", c) + u[8:]
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(u), 0, 0, 64, 17, 0,
                    src_ip, GW4)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return gw_mac + src_mac + b"\x08\x00" + h + u


def spoofed_source(rnd):
    """A unicast MAC and an address in 10/8 or 198.18/15: never a
    station's, never one the gateway refuses to answer on sight."""
    mac = bytes([0x02]) + rnd.randbytes(5)
    if rnd.random() < 0.5:
        ip = bytes([10]) + rnd.randbytes(3)
    else:
        ip = bytes([198, 18 + rnd.randrange(2)]) + rnd.randbytes(2)
    return mac, ip, rnd.randrange(1024, 65536)


def send(a):
    rnd = random.Random(a.seed)
    gw_mac = bytes.fromhex(a.gw_mac.replace(":", ""))
    signed = open(a.kpc, "rb").read()
    stations = a.stations.split(",")
    kinds = {"unknown_station": 0, "no_hmac": 0, "bad_hmac": 0, "cut_short": 0}
    frames = []
    for k in range(a.frames):
        mac, ip, sport = spoofed_source(rnd)
        sc = signed_variant(signed, rnd)
        rid = rnd.getrandbits(63) | 1
        roll = rnd.random()
        if roll < 0.4:
            kind, dg = "unknown_station", request(rid, f"junk-{k}", sc)
        elif roll < 0.65:
            kind, dg = "no_hmac", request(rid, rnd.choice(stations), sc)
        elif roll < 0.95:
            kind, dg = "bad_hmac", request(rid, rnd.choice(stations), sc,
                                           rnd.randbytes(32))
        else:
            dg = request(rid, rnd.choice(stations), sc, rnd.randbytes(32))
            kind, dg = "cut_short", dg[:len(dg) - rnd.randrange(1, 40)]
        kinds[kind] += 1
        frames.append(frame(gw_mac, mac, ip, sport, dg))

    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.bind((a.iface, 0))
        start = time.monotonic()
        sent = 0
        for k, f in enumerate(frames):
            due = start + k / a.rate
            delay = due - time.monotonic()
            if delay > 0.002:
                time.sleep(delay)
            try:
                s.send(f)
                sent += 1
            except OSError:        # the tap's queue is full: count it unsent
                pass
    print(json.dumps({"frames": a.frames, "sent": sent,
                      "seconds": round(time.monotonic() - start, 3),
                      "kinds": kinds}))
    return 0


def answer_error(payload):
    """The error code of a ScanResponse datagram, 0 for a decision."""
    try:
        for num, wire, v in fields(payload[4:]):
            if num == 5 and wire == 0:
                return v
    except (ValueError, IndexError):
        return -1
    return 0


def watch(a):
    registered = {socket.inet_aton(x) for x in a.registered.split(",")}
    out = {"to_registered": 0, "to_others": 0, "errors_to_others": 0,
           "error_codes_to_others": {}}
    deadline = time.monotonic() + a.seconds
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                       socket.htons(ETH_P_ALL)) as s:
        s.bind((a.iface, 0))
        s.settimeout(0.2)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        print("watching", flush=True)    # the test waits for this line
        while time.monotonic() < deadline:
            try:
                f, addr = s.recvfrom(2048)
            except socket.timeout:
                continue
            if addr[2] == PACKET_OUTGOING or len(f) < 42:
                continue               # our own flood going out
            if f[12:14] != b"\x08\x00" or f[23] != 17 or f[26:30] != GW4:
                continue
            ihl = (f[14] & 0x0F) * 4
            udp = f[14 + ihl:]
            if len(udp) < 8 or struct.unpack("!H", udp[:2])[0] != PORT:
                continue
            if f[30:34] in registered:
                out["to_registered"] += 1
                continue
            out["to_others"] += 1
            err = answer_error(udp[8:])
            if err:
                out["errors_to_others"] += 1
                key = str(err)
                out["error_codes_to_others"][key] = \
                    out["error_codes_to_others"].get(key, 0) + 1
    print(json.dumps(out), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("iface")
    s.add_argument("gw_mac")
    s.add_argument("kpc")
    s.add_argument("--frames", type=int, required=True)
    s.add_argument("--rate", type=float, required=True)
    s.add_argument("--stations", required=True)
    s.add_argument("--seed", type=int, default=os.getpid())
    w = sub.add_parser("watch")
    w.add_argument("iface")
    w.add_argument("seconds", type=float)
    w.add_argument("--registered", required=True)
    a = ap.parse_args()
    return send(a) if a.cmd == "send" else watch(a)


if __name__ == "__main__":
    sys.exit(main())
