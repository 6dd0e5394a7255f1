#!/usr/bin/env python3
"""Hand-built Ethernet frames for the gateway's malformed-input tests.

Run inside the test's network namespace: `rawframes.py IFACE GW_MAC KIND...`
sends one frame of each kind on IFACE through an AF_PACKET socket, exactly
as built (the kernel adds nothing). `rawframes.py --list` prints the kinds.
"""
import socket
import struct
import sys

ST_MAC = bytes.fromhex("020000000002")
ST4 = socket.inet_aton("192.0.2.2")
GW4 = socket.inet_aton("192.0.2.1")
ST6 = socket.inet_pton(socket.AF_INET6, "2001:db8::2")
GW6 = socket.inet_pton(socket.AF_INET6, "2001:db8::1")
PORT = 7102


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(payload, proto=17, flags_frag=0, total=None, ihl=5, bad_csum=False):
    total = total if total is not None else 20 + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 0x1234,
                    flags_frag, 64, proto, 0, ST4, GW4)
    c = csum(h)
    if bad_csum:
        c ^= 0x5555
    return h[:10] + struct.pack("!H", c) + h[12:] + payload


def udp4(payload, dport=PORT, bad_csum=False):
    length = 8 + len(payload)
    pseudo = ST4 + GW4 + struct.pack("!BBH", 0, 17, length)
    u = struct.pack("!HHHH", 40000, dport, length, 0) + payload
    c = csum(pseudo + u) or 0xFFFF
    if bad_csum:
        c ^= 0x0F0F
    return u[:6] + struct.pack("!H", c) + u[8:]


def eth(gw_mac, ethertype, payload):
    return gw_mac + ST_MAC + struct.pack("!H", ethertype) + payload


def request(body):
    return b"KP\x01\x01" + body


def frames(gw_mac):
    """Each kind with the counter it must raise in /kpgate/drops."""
    good_udp = udp4(request(b"\x08\x01"))
    return {
        "bad_ether_type": (eth(gw_mac, 0x88B5, b"\0" * 46), "bad_ether_type"),
        "qinq": (eth(gw_mac, 0x88A8, b"\0\x01\x81\x00\0\x02\x08\x00" + b"\0" * 40), "qinq"),
        "ipv4_bad_checksum": (eth(gw_mac, 0x0800, ipv4(good_udp, bad_csum=True)),
                              "ipv4_bad_checksum"),
        "ipv4_fragment": (eth(gw_mac, 0x0800, ipv4(good_udp, flags_frag=0x2000)),
                          "ipv4_fragment"),
        "ipv4_bad_ihl": (eth(gw_mac, 0x0800, ipv4(good_udp, ihl=4)), "ipv4_bad_header"),
        "ipv4_length_past_frame": (eth(gw_mac, 0x0800, ipv4(good_udp, total=400)),
                                   "ip_truncated"),
        "udp_bad_checksum": (eth(gw_mac, 0x0800, ipv4(udp4(request(b"\x08\x01"), bad_csum=True))),
                             "udp_bad_checksum"),
        "udp_wrong_port": (eth(gw_mac, 0x0800, ipv4(udp4(b"hello", dport=9))), "udp_wrong_port"),
        "ipv6_ext_header": (eth(gw_mac, 0x86DD, struct.pack("!IHBB16s16s", 0x60000000, 8, 0, 64,
                                                             ST6, GW6) + b"\x11\0\0\0\0\0\0\0"),
                            "ipv6_ext_header"),
        # Request-level refusals, counted under the engine's reasons.
        "bad_magic": (eth(gw_mac, 0x0800, ipv4(udp4(b"GET / HTTP/1.0\r\n"))), "bad_magic"),
        "truncated_varint": (eth(gw_mac, 0x0800, ipv4(udp4(request(b"\x08\xff\xff")))),
                             "bad_varint"),
        "unknown_field": (eth(gw_mac, 0x0800, ipv4(udp4(request(b"\x08\x01\xa0\x06\x01")))),
                          "unknown_field"),
        "duplicate_field": (eth(gw_mac, 0x0800, ipv4(udp4(request(b"\x08\x01\x08\x02")))),
                            "duplicate_field"),
    }


def main(argv):
    if argv[1:] == ["--list"]:
        for kind, (_, counter) in frames(b"\0" * 6).items():
            print(kind, counter)
        return 0
    iface, gw_mac, kinds = argv[1], bytes.fromhex(argv[2].replace(":", "")), argv[3:]
    table = frames(gw_mac)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.bind((iface, 0))
        for kind in kinds:
            s.send(table[kind][0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
