#!/usr/bin/env python3
"""Sends one TCP probe to HOST PORT over IPv6 in fragments of CHUNK bytes (a tiny first
fragment: the ports in the first, the flags in the second), as nmap -f does for IPv4 (nmap
does not fragment IPv6). A raw socket of protocol 44: the kernel writes the IPv6 header, this
script the fragment header and the TCP bytes. Usage: tiny-ipv6-fragments.py SRC HOST PORT FLAGS [CHUNK]
"""
import random
import socket
import struct
import sys

src, host, port, flags = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4], 0)
chunk = int(sys.argv[5]) if len(sys.argv) > 5 else 8
sport = random.randint(40000, 60000)
tcp = bytearray(struct.pack("!HHIIBBHHH", sport, port, random.getrandbits(32), 0, 5 << 4, flags, 1024, 0, 0))
pseudo = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, host)
pseudo += struct.pack("!I3xB", len(tcp), 6)
data = pseudo + bytes(tcp)
total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
while total > 0xFFFF:
    total = (total & 0xFFFF) + (total >> 16)
struct.pack_into("!H", tcp, 16, ~total & 0xFFFF)
ident = random.getrandbits(32)
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 44)
s.bind((src, 0))
for at in range(0, len(tcp), chunk):
    more = 1 if at + chunk < len(tcp) else 0
    header = struct.pack("!BBHI", 6, 0, at | more, ident)
    s.sendto(header + bytes(tcp[at : at + chunk]), (host, 0))
print("SENT")
