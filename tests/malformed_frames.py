"""The malformed-input corpus: every bad shape a frame or a request can take,
each with the counters it must raise in kpgate's /kpgate/drops and the
answer, if any, it must get.

Frames are built byte by byte (on top of rawframes.py and station.py) and
sent exactly as built through an AF_PACKET socket on the tap interface of
the gateway's network namespace; the same socket sees the answers. Used by
tests/test_malformed.py and, for seeds, by tests/fuzz/make_seeds.py.
"""
import ctypes
import os
import select
import socket
import struct
import time
from collections import namedtuple

from rawframes import GW4, GW6, PORT, ST4, ST6, ST_MAC, csum, eth, ipv4
from station import answer, field, read_varint, varint

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
ST_PORT = 40000

# counts: {"packet.NAME" | "request.NAME" | "error.NAME": per frame};
# answer: the error code name of the gateway's answer, or None for silence;
# answer_id: the request id that answer carries (0: the request was unread).
Kind = namedtuple("Kind", "name frame counts answer answer_id")

ERRORS = {1: "malformed_request", 2: "noncanonical_certificate",
          6: "unsupported_version"}


# -- protobuf, just enough ---------------------------------------------------
def pb_fields(buf):
    """[(number, wire type, value)] of a message: ints for varints, bytes
    otherwise."""
    out, i = [], 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = read_varint(buf, i)
        elif wire == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            size = 8 if wire == 1 else 4
            v, i = buf[i:i + size], i + size
        out.append((num, wire, v))
    return out


def pb_encode(fields):
    return b"".join(field(n, w, varint(v) if w == 0 else v)
                    for n, w, v in fields)


def uv(num, value):
    return field(num, 0, varint(value))


def ld(num, payload):
    return field(num, 2, payload)


# -- layers the shared helpers lack ------------------------------------------
def udp(payload, src=ST4, dst=GW4, sport=ST_PORT, dport=PORT, length=None,
        checksum="good"):
    """UDP over IPv4 or IPv6 (by address size); checksum good, bad or zero."""
    length = 8 + len(payload) if length is None else length
    if len(src) == 4:
        pseudo = src + dst + struct.pack("!BBH", 0, 17, 8 + len(payload))
    else:
        pseudo = src + dst + struct.pack("!I3xB", 8 + len(payload), 17)
    u = struct.pack("!HHHH", sport, dport, length, 0) + payload
    c = csum(pseudo + u) or 0xFFFF
    if checksum == "bad":
        c ^= 0x0F0F
    elif checksum == "zero":
        c = 0
    return u[:6] + struct.pack("!H", c) + u[8:]


def ipv6(payload, nh=17, plen=None, version=6):
    plen = len(payload) if plen is None else plen
    return struct.pack("!IHBB16s16s", version << 28, plen, nh, 64, ST6,
                       GW6) + payload


def ext_header(nh, kind=0):
    """An 8-byte IPv6 extension header: hop-by-hop or destination options
    (PadN), a type-0 routing header, or a fragment header (kind 44)."""
    if kind == 44:
        return struct.pack("!BBHI", nh, 0, 0x0001, 0x12345678)
    if kind == 43:
        return struct.pack("!BBBB4x", nh, 0, 0, 0)
    return struct.pack("!BB", nh, 0) + b"\x01\x04\0\0\0\0"


# -- requests ----------------------------------------------------------------
def scan_request(signed, request_id, now, station=b"gate-mf", tail=b"",
                 header=b"KP\x01\x01", skip=()):
    """A ScanRequest datagram field by field, so a test may drop, repeat or
    spoil any of them."""
    fields = [(1, uv(1, request_id)), (2, ld(2, station)), (3, ld(3, signed)),
              (5, uv(5, now))]
    return header + b"".join(f for n, f in fields if n not in skip) + tail


def signed_with(signed, **parts):
    """The SignedCertificate with some of its parts replaced."""
    by_name = {1: "cert", 2: "sig", 3: "key_id"}
    return pb_encode([(n, w, parts.get(by_name[n], v))
                      for n, w, v in pb_fields(signed)])


def cert_with_fields(cert, change):
    return pb_encode(change(pb_fields(cert)))


def kinds(gw_mac, signed, now):
    """The corpus: a list of Kind. signed is a genuine SignedCertificate
    (a .kpc file), now the scan time to put in requests."""
    ks = []

    def add(name, frame, answer=None, answer_id=0, **counts):
        c = {}
        for key, n in counts.items():
            group, _, counter = key.partition("__")
            c[f"{group}.{counter}"] = n
        if answer:
            c[f"error.{answer}"] = 1
        ks.append(Kind(name, frame, c, answer, answer_id))

    def v4(payload, **kw):
        return eth(gw_mac, 0x0800, ipv4(udp(payload, **kw)))

    def v6(payload, **kw):
        return eth(gw_mac, 0x86DD, ipv6(udp(payload, src=ST6, dst=GW6, **kw)))

    rid = 0x4B50
    good = scan_request(signed, rid, now)
    good_udp = udp(good)
    cert = dict((n, v) for n, _, v in pb_fields(signed))[1]

    # Ethernet and VLAN. The kernel sends nothing under 14 bytes on a tap,
    # so runts are headers cut right after the Ethernet header or a tag.
    add("runt_ethernet_only", eth(gw_mac, 0x0800, b""), packet__runt=1)
    add("runt_vlan_tag_cut", eth(gw_mac, 0x8100, b"\0\x05"), packet__runt=1)
    add("runt_ipv6_header_cut", eth(gw_mac, 0x86DD, ipv6(b"")[:30]),
        packet__runt=1)
    add("pad_only", eth(gw_mac, 0x0800, b"\0" * 46), packet__ipv4_bad_header=1)
    add("mac_not_for_us", eth(b"\x02\0\0\0\0\x99", 0x0800, ipv4(good_udp)),
        packet__mac_not_for_us=1)
    add("group_source_mac",
        gw_mac + b"\x03\0\0\0\0\x02" + b"\x08\x00" + ipv4(good_udp),
        packet__bad_source=1)
    add("bad_ether_type", eth(gw_mac, 0x88B5, b"\0" * 46),
        packet__bad_ether_type=1)
    add("qinq_802_1ad", eth(gw_mac, 0x88A8, b"\0\x05\x81\x00\0\x06\x08\x00"
                            + ipv4(good_udp)), packet__qinq=1)
    add("qinq_stacked_802_1q", eth(gw_mac, 0x8100, b"\0\x05\x81\x00\0\x06\x08\x00"
                                   + ipv4(good_udp)), packet__qinq=1)
    add("vlan_mismatch", eth(gw_mac, 0x8100, b"\0\x05\x08\x00" + ipv4(good_udp)),
        packet__vlan_mismatch=1)
    add("arp_not_ethernet",
        eth(b"\xff" * 6, 0x0806, struct.pack("!HHBBH6s4s6s4s", 6, 0x0800, 6, 4,
                                             1, ST_MAC, ST4, b"\0" * 6, GW4)),
        packet__arp_bad=1)

    # IPv4.
    add("ipv4_bad_ihl", eth(gw_mac, 0x0800, ipv4(good_udp, ihl=4)),
        packet__ipv4_bad_header=1)
    add("ipv4_total_length_below_header",
        eth(gw_mac, 0x0800, ipv4(good_udp, total=12)), packet__ipv4_bad_header=1)
    add("ipv4_total_length_past_frame",
        eth(gw_mac, 0x0800, ipv4(good_udp, total=20 + len(good_udp) + 100)),
        packet__ip_truncated=1)
    add("ipv4_bad_checksum", eth(gw_mac, 0x0800, ipv4(good_udp, bad_csum=True)),
        packet__ipv4_bad_checksum=1)
    half = len(good_udp) // 16 * 8
    add("ipv4_first_fragment",
        eth(gw_mac, 0x0800, ipv4(good_udp[:half], flags_frag=0x2000)),
        packet__ipv4_fragment=1)
    add("ipv4_later_fragment",
        eth(gw_mac, 0x0800, ipv4(good_udp[half:], flags_frag=half // 8)),
        packet__ipv4_fragment=1)
    add("ipv4_tcp", eth(gw_mac, 0x0800, ipv4(b"\x9c\x40\x1b\xbe" + b"\0" * 16,
                                             proto=6)),
        packet__proto_unhandled=1)
    icmp = bytearray(b"\x08\0\0\0\0\x01\0\x01" + b"ping" * 8)
    icmp[2:4] = struct.pack("!H", csum(bytes(icmp)) ^ 0x1111)
    add("icmp_bad_checksum", eth(gw_mac, 0x0800, ipv4(bytes(icmp), proto=1)),
        packet__icmp_bad=1)

    # IPv6.
    add("ipv6_bad_version", eth(gw_mac, 0x86DD, ipv6(good_udp, version=4)),
        packet__ipv6_bad_header=1)
    good6 = udp(good, src=ST6, dst=GW6)
    add("ipv6_payload_length_past_frame",
        eth(gw_mac, 0x86DD, ipv6(good6, plen=len(good6) + 64)),
        packet__ip_truncated=1)
    chain = ext_header(43) + ext_header(60, 43) + ext_header(17) + good6
    add("ipv6_extension_chain", eth(gw_mac, 0x86DD, ipv6(chain, nh=0)),
        packet__ipv6_ext_header=1)
    add("ipv6_fragment_header",
        eth(gw_mac, 0x86DD, ipv6(ext_header(17, 44) + good6, nh=44)),
        packet__ipv6_ext_header=1)

    # UDP.
    add("udp_length_past_datagram", v4(good, length=len(good) + 8 + 32),
        packet__udp_bad_length=1)
    add("udp_length_below_header", v4(good, length=4), packet__udp_bad_length=1)
    add("udp_bad_checksum", v4(good, checksum="bad"), packet__udp_bad_checksum=1)
    add("udp6_zero_checksum", v6(good, checksum="zero"),
        packet__udp_bad_checksum=1)
    add("udp_source_port_zero", v4(good, sport=0), packet__udp_src_port_zero=1)
    add("udp_wrong_port", v4(good, dport=PORT + 1), packet__udp_wrong_port=1)

    # Datagrams that are not kpgate's, or too short for even a bare error
    # answer (12 bytes): dropped, and counted request_dropped as well.
    dropped = {"packet__request_dropped": 1}
    add("empty_udp_payload", v4(b""), request__short=1, **dropped)
    add("short_header", v4(b"KP\x01"), request__short=1, **dropped)
    add("bad_magic", v4(b"GET / HTTP/1.0\r\n\r\n"), request__bad_magic=1,
        **dropped)
    add("response_type", v4(scan_request(signed, rid, now, header=b"KP\x01\x02")),
        request__bad_type=1, **dropped)
    add("truncated_varint_tiny", v4(b"KP\x01\x01\x08\xff\xff"),
        request__bad_varint=1, **dropped)

    # Requests that are answered "malformed_request" (or another error)
    # with request id 0, each counted under its precise reason.
    mal = "malformed_request"
    add("bad_version", v4(scan_request(signed, rid, now, header=b"KP\x02\x01")),
        "unsupported_version", request__bad_version=1)
    add("request_over_1200_bytes", v4(good + ld(6, b"\0" * (1200 - len(good)))),
        mal, request__too_long=1)
    add("truncated_varint", v4(scan_request(signed, rid, now, skip=(1,),
                                            tail=b"\x08\xff\xff\xff")),
        mal, request__bad_varint=1)
    add("overlong_varint", v4(b"KP\x01\x01\x08" + b"\xff" * 10 + b"\x01" +
                              scan_request(signed, rid, now, skip=(1,))[4:]),
        mal, request__bad_varint=1)
    add("length_past_end", v4(scan_request(signed, rid, now, skip=(2,),
                                           tail=b"\x12\x7fgate")),
        mal, request__truncated=1)
    add("bad_wire_type", v4(scan_request(signed, rid, now, skip=(1,),
                                         tail=ld(1, b"\x01"))),
        mal, request__bad_wire_type=1)
    add("group_wire_type", v4(scan_request(signed, rid, now, tail=b"\x33\x08\x01\x34")),
        mal, request__bad_wire_type=1)
    add("unknown_field_flood", v4(good + uv(6, 1) * 150), mal,
        request__unknown_field=1)
    add("duplicate_field", v4(good + uv(1, rid + 1)), mal,
        request__duplicate_field=1)
    add("missing_field", v4(scan_request(signed, rid, now, skip=(5,))), mal,
        request__missing_field=1)
    add("oversized_station_id", v4(scan_request(signed, rid, now, station=b"S" * 100)),
        mal, request__oversized_field=1)
    add("oversized_signature",
        v4(scan_request(signed_with(signed, sig=b"\x30" * 513), rid, now)),
        mal, request__oversized_field=1)
    # The schema has no recursion: a request can nest one level, so nesting
    # beyond it is a field its message does not have.
    nest = b""
    for _ in range(40):
        nest = ld(4, nest)
    add("too_deep_nesting", v4(scan_request(signed, rid, now, tail=ld(4, nest))),
        mal, request__unknown_field=1)
    add("bad_utf8_station_id",
        v4(scan_request(signed, rid, now, station=b"gate-\xc3\x28")), mal,
        request__bad_utf8=1)
    add("nul_in_station_id", v4(scan_request(signed, rid, now, station=b"gate\x00")),
        mal, request__bad_utf8=1)
    add("bad_value", v4(scan_request(signed, rid, now, tail=ld(4, uv(1, 1 << 33)))),
        mal, request__bad_value=1)
    add("key_id_15_bytes",
        v4(scan_request(signed_with(signed, key_id=b"\x01" * 15), rid, now)),
        mal, request__bad_key_id=1)
    add("key_id_17_bytes",
        v4(scan_request(signed_with(signed, key_id=b"\x01" * 17), rid, now)),
        mal, request__bad_key_id=1)
    add("hmac_not_last", v4(scan_request(signed, rid, now, skip=(5,),
                                         tail=ld(15, b"\0" * 32) + uv(5, now))),
        mal, request__out_of_order=1)
    add("ipv6_unknown_field", v6(good + uv(7, 1)), mal, request__unknown_field=1)

    # Certificate bytes that are not canonical: refused before any crypto,
    # answered with the request's own id.
    def noncanonical(name, cert_bytes):
        add(name, v4(scan_request(signed_with(signed, cert=cert_bytes), rid, now)),
            "noncanonical_certificate", rid)

    def reordered(change):
        return cert_with_fields(cert, lambda f: sorted(change(f), key=lambda x: x[0]))

    noncanonical("cert_fields_out_of_order",
                 cert_with_fields(cert, lambda f: [f[1], f[0]] + f[2:]))
    noncanonical("cert_varint_not_minimal", nonminimal_parcels(cert))
    noncanonical("cert_unknown_field", cert_with_fields(cert, lambda f: f + [(15, 0, 1)]))
    noncanonical("cert_too_many_fields", reordered(lambda f: f + [(13, 2, b"")] * 240))
    noncanonical("cert_duplicate_field", reordered(lambda f: f + [(10, 0, 2)]))
    return ks


def nonminimal_parcels(cert):
    """The certificate with its parcel count (field 10) written in two
    bytes where one would do."""
    out = b""
    for n, w, v in pb_fields(cert):
        if n == 10:
            out += varint(10 << 3) + bytes([0x80 | (v & 0x7F), v >> 7])
        else:
            out += pb_encode([(n, w, v)])
    return out


# -- the wire ----------------------------------------------------------------
_CLONE_NEWNET = 0x40000000


def _setns(path):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
    finally:
        os.close(fd)


def tap_socket(netns, iface):
    """An AF_PACKET socket on iface inside netns. The socket stays in the
    namespace it was made in; this process goes straight back to its own."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        _setns(f"/var/run/netns/{netns}")
        try:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                              socket.htons(ETH_P_ALL))
            s.bind((iface, 0))
        finally:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(own, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "cannot return to own netns")
    finally:
        os.close(own)
    s.setblocking(False)
    return s


def drain(s):
    while True:
        try:
            s.recv(65536)
        except BlockingIOError:
            return


def _udp_payload(frame):
    """The payload of a UDP frame from the gateway's port, else None."""
    et = struct.unpack("!H", frame[12:14])[0]
    if et == 0x0800 and len(frame) >= 34 and frame[23] == 17:
        l4 = 14 + (frame[14] & 15) * 4
    elif et == 0x86DD and len(frame) >= 62 and frame[20] == 17:
        l4 = 54
    else:
        return None
    sport, dport, length = struct.unpack("!HHH", frame[l4:l4 + 6])
    if sport != PORT or dport != ST_PORT:
        return None
    return frame[l4 + 8:l4 + length]


def collect_answers(s, want, timeout):
    """Answers (request id, decision, error, verdicts) seen on s until want
    of them came or timeout passed."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < want or want == 0:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if not select.select([s], [], [], left)[0]:
            continue
        try:
            frame, addr = s.recvfrom(65536)
        except BlockingIOError:
            continue
        if addr[2] == PACKET_OUTGOING:
            continue
        payload = _udp_payload(frame)
        if payload is not None:
            got.append(answer(payload))
    return got
