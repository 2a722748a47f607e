#!/usr/bin/python3
"""Real peers for the namespace lab (Debian's /usr/bin/python3; scapy only where frames are crafted).

  peer.py listen --ports 25,465,587,443 --log FILE   # "the internet": banner, log the peer, close
  peer.py probe HOST PORT [--timeout S]              # one TCP connect: open | reset | timeout | unreachable
  peer.py spoof KIND --marker M [--dst-mac MAC]      # one crafted frame kind from this VM's eth0
  peer.py sniff --iface IF --marker M --seconds S    # count frames carrying M (prints 'ready' first)
  peer.py hammer HOST PORT --seconds S               # connect in a loop; print {"reset": n, ...}
"""
import argparse, asyncio, errno, json, socket, sys, time

BANNERS = {25: b"220 lab-mx ESMTP ready\r\n", 465: b"220 lab-mx ESMTP ready\r\n",
           587: b"220 lab-mx ESMTP ready\r\n", 443: b"HTTP/1.0 200 OK\r\n\r\nlab\r\n"}


def listen(args):
    ports = [int(p) for p in args.ports.split(",")]
    log = open(args.log, "a", buffering=1)

    def handler(port):
        async def handle(reader, writer):
            peer = writer.get_extra_info("peername")
            local = writer.get_extra_info("sockname")
            log.write(json.dumps({"time": time.time(), "port": port, "local": local[0], "peer": peer[0], "peer_port": peer[1]}) + "\n")
            writer.write(BANNERS.get(port, b"hello\r\n"))
            try:
                await asyncio.wait_for(writer.drain(), 2)
                await asyncio.wait_for(reader.readline(), 2)
            except Exception:
                pass
            writer.close()
        return handle

    async def main():
        servers = []
        for port in ports:
            sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(("::", port))
            servers.append(await asyncio.start_server(handler(port), sock=sock, backlog=512))
        print("listening", flush=True)
        await asyncio.gather(*(s.serve_forever() for s in servers))

    asyncio.run(main())


def probe(host, port, timeout):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        data = s.recv(64)
        return "open" if data else "closed"
    except ConnectionRefusedError:
        return "reset"
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"
    except OSError as e:
        if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM):
            return "unreachable"
        return "error:" + (errno.errorcode.get(e.errno) or str(e))
    finally:
        s.close()


def frames(kind, marker, iface, dst_mac):
    from scapy.all import (ARP, DHCP, BOOTP, Dot1Q, Ether, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA,
                           ICMPv6ND_Redirect, IP, IPv6, UDP, Raw, get_if_hwaddr)
    from scapy.layers.dhcp6 import DHCP6_Advertise
    import subprocess
    mac = get_if_hwaddr(iface)
    addrs = json.loads(subprocess.check_output(["ip", "-j", "addr", "show", "dev", iface]))[0]["addr_info"]
    v4 = next(a["local"] for a in addrs if a["family"] == "inet")
    v6 = next(a["local"] for a in addrs if a["family"] == "inet6" and a["scope"] == "global")
    ll = next(a["local"] for a in addrs if a["family"] == "inet6" and a["scope"] == "link")
    payload = Raw(load=marker.encode())
    bcast = "ff:ff:ff:ff:ff:ff"
    dst = dst_mac or bcast
    u4 = lambda src: Ether(src=mac, dst=dst) / IP(src=src, dst="203.0.113.1") / UDP(sport=40000, dport=9) / payload
    u6 = lambda src: Ether(src=mac, dst=dst) / IPv6(src=src, dst="2001:db8:1::1") / UDP(sport=40000, dport=9) / payload
    def icmp_error(port, _proto, v6=False):
        from scapy.all import ICMP, ICMPv6PacketTooBig, TCP
        if v6:
            inner = IPv6(src="2001:db8:1::10", dst=v6addr) / TCP(sport=40000, dport=port, flags="S") / payload
            return Ether(src=mac, dst=dst) / IPv6(src=v6addr, dst="2001:db8:1::10") / ICMPv6PacketTooBig(mtu=1280) / inner
        inner = IP(src="203.0.113.10", dst=v4) / TCP(sport=40000, dport=port, flags="S") / payload
        return Ether(src=mac, dst=dst) / IP(src=v4, dst="203.0.113.10") / ICMP(type=3, code=4, nexthopmtu=1200) / inner

    v6addr = v6
    table = {
        "legit4": lambda: u4(v4),
        "legit6": lambda: u6(v6),
        "mac": lambda: Ether(src="02:66:66:66:66:66", dst=dst) / IP(src=v4, dst="203.0.113.1") / UDP(sport=40000, dport=9) / payload,
        "ipv4": lambda: u4("203.0.113.99"),
        "ipv6": lambda: u6("2001:db8:1::99"),
        "ll6": lambda: u6("fe80::bad"),
        "arp-ip": lambda: Ether(src=mac, dst=bcast) / ARP(op=2, hwsrc=mac, psrc="203.0.113.1", hwdst=bcast, pdst="203.0.113.1") / payload,
        "arp-mac": lambda: Ether(src=mac, dst=bcast) / ARP(op=2, hwsrc="02:66:66:66:66:66", psrc=v4, hwdst=bcast, pdst=v4) / payload,
        "arp-legit": lambda: Ether(src=mac, dst=bcast) / ARP(op=1, hwsrc=mac, psrc=v4, pdst="203.0.113.1") / payload,
        "na": lambda: Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src=ll, dst="ff02::1") / ICMPv6ND_NA(tgt="2001:db8:1::1", R=0, S=0, O=1) / payload,
        "na-legit": lambda: Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src=ll, dst="ff02::1") / ICMPv6ND_NA(tgt=v6, R=0, S=0, O=1) / payload,
        "ra": lambda: Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src=ll, dst="ff02::1") / ICMPv6ND_RA() / payload,
        "redirect": lambda: Ether(src=mac, dst=dst) / IPv6(src=ll, dst="fe80::1") / ICMPv6ND_Redirect(tgt="fe80::66", dst="2001:db8:1::1") / payload,
        "dad": lambda: Ether(src=mac, dst="33:33:ff:00:00:10") / IPv6(src="::", dst="ff02::1:ff00:10") / ICMPv6ND_NS(tgt=v6) / payload,
        "dad-foreign": lambda: Ether(src=mac, dst="33:33:ff:00:00:01") / IPv6(src="::", dst="ff02::1:ff00:1") / ICMPv6ND_NS(tgt="2001:db8:1::1") / payload,
        "dhcp4-server": lambda: Ether(src=mac, dst=bcast) / IP(src=v4, dst="255.255.255.255") / UDP(sport=67, dport=68) / BOOTP(op=2, yiaddr="203.0.113.50") / DHCP(options=[("message-type", "offer"), "end"]) / payload,
        "dhcp4-client": lambda: Ether(src=mac, dst=bcast) / IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67) / BOOTP(op=1, chaddr=bytes.fromhex(mac.replace(":", ""))) / DHCP(options=[("message-type", "discover"), "end"]) / payload,
        "dhcp6-server": lambda: Ether(src=mac, dst="33:33:00:01:00:02") / IPv6(src=ll, dst="ff02::1:2") / UDP(sport=547, dport=546) / DHCP6_Advertise() / payload,
        "vlan": lambda: Ether(src=mac, dst=dst) / Dot1Q(vlan=100) / IP(src=v4, dst="203.0.113.1") / UDP(sport=40000, dport=9) / payload,
        # From "the internet" to the public VM: ICMP errors about a TCP connection from the VM's
        # address to 203.0.113.1 port 25 (which is the relay's) or port 80 (which would be the VM's).
        "icmp-frag-25": lambda: icmp_error(25, 6),
        "icmp-frag-80": lambda: icmp_error(80, 6),
        "icmp6-toobig-25": lambda: icmp_error(25, 6, v6=True),
        "icmp6-toobig-80": lambda: icmp_error(80, 6, v6=True),
    }
    if kind not in table:
        sys.exit(f"unknown kind {kind}; known: {', '.join(sorted(table))}")
    return table[kind]()


def spoof(args):
    from scapy.all import sendp
    frame = frames(args.kind, args.marker, args.iface, args.dst_mac)
    sendp(frame, iface=args.iface, count=args.count, inter=0.05, verbose=False)
    print("sent", args.count)


def sniff(args):
    from scapy.all import AsyncSniffer
    marker = args.marker.encode()
    seen = []
    sniffer = AsyncSniffer(iface=args.iface, store=False, prn=lambda p: seen.append(1) if marker in bytes(p) else None)
    sniffer.start()
    time.sleep(0.5)
    print("ready", flush=True)
    time.sleep(args.seconds)
    sniffer.stop()
    print(len(seen), flush=True)


def hammer(args):
    """Connects to HOST:PORT again and again for S seconds; prints the tally as JSON."""
    tally = {}
    end = time.time() + args.seconds
    while time.time() < end:
        result = probe(args.host, args.port, 0.3)
        tally[result] = tally.get(result, 0) + 1
        time.sleep(args.interval)
    print(json.dumps(tally), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("listen"); p.add_argument("--ports", required=True); p.add_argument("--log", required=True)
    p = sub.add_parser("probe"); p.add_argument("host"); p.add_argument("port", type=int); p.add_argument("--timeout", type=float, default=2)
    p = sub.add_parser("spoof"); p.add_argument("kind"); p.add_argument("--marker", required=True)
    p.add_argument("--iface", default="eth0"); p.add_argument("--count", type=int, default=3); p.add_argument("--dst-mac")
    p = sub.add_parser("sniff"); p.add_argument("--iface", required=True); p.add_argument("--marker", required=True)
    p.add_argument("--seconds", type=float, default=2)
    p = sub.add_parser("hammer"); p.add_argument("host"); p.add_argument("port", type=int)
    p.add_argument("--seconds", type=float, default=5); p.add_argument("--interval", type=float, default=0.02)
    args = parser.parse_args()
    if args.cmd == "listen":
        listen(args)
    elif args.cmd == "probe":
        print(probe(args.host, args.port, args.timeout))
    elif args.cmd == "hammer":
        hammer(args)
    elif args.cmd == "spoof":
        spoof(args)
    else:
        sniff(args)


if __name__ == "__main__":
    main()
