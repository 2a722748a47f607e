#!/usr/bin/python3
"""Benign traffic for the namespace lab: what an ordinary VM does all day, so that the port-scan
detector can be checked for false positives (Debian's /usr/bin/python3, standard library only).

  benign.py serve --dns ADDR,...       # in the internet: a DNS-ish UDP responder on ADDR:53, a mirror on 80
  benign.py mix --seconds S --https HOST,... --dns HOST --mirror HOST [--burst-every S] ...
                                       # in a VM: the client mix for S seconds; prints counts as JSON

The mix, all in parallel:
- web: one HTTPS-like fetch every --https-interval seconds (a new connection each time, as a
  browser's short-lived connections to the same few sites), round robin over --https hosts on
  port 443 (the lab's listener: a banner, our request line, close; the detector sees SYNs only,
  so TLS would add nothing to what it counts);
- DNS: an A and an AAAA query every second, each from a new UDP socket (a stub resolver's
  random source ports);
- package manager: every --burst-every seconds, --parallel downloads of --size bytes each from
  one mirror (HOST:80) at once, as apt or pip fetch a batch of packages.
Every flow must succeed: a benign flow that fails would be Portcullis (or the lab) breaking it.
"""
import argparse, asyncio, json, os, socket, struct, time

MIRROR_PORT = 80
DNS_PORT = 53


# --- the internet's side -------------------------------------------------------------------

def serve(args):
    class DNS(asyncio.DatagramProtocol):
        def connection_made(self, transport):
            self.transport = transport

        def datagram_received(self, data, addr):
            # The query back with QR and RA set and no answers (NOERROR): enough to be a reply.
            if len(data) >= 12:
                self.transport.sendto(data[:2] + b"\x81\x80" + data[4:], addr)

    async def mirror(reader, writer):
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
            parts = line.split()
            size = int(parts[1].lstrip(b"/")) if len(parts) > 1 and parts[1].lstrip(b"/").isdigit() else 0
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            block = b"\0" * 65536
            while size > 0:
                writer.write(block[:size])
                size -= min(size, len(block))
                await asyncio.wait_for(writer.drain(), 20)
        except Exception:
            pass
        writer.close()

    async def main():
        # One UDP socket per address: a wildcard one would answer from the route's preferred
        # source, which a client that asked another of the namespace's addresses discards.
        for address in args.dns.split(","):
            udp = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((address, DNS_PORT))
            await asyncio.get_running_loop().create_datagram_endpoint(DNS, sock=udp)
        tcp = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        tcp.bind(("::", MIRROR_PORT))
        server = await asyncio.start_server(mirror, sock=tcp, backlog=512)
        print("serving", flush=True)
        await server.serve_forever()

    asyncio.run(main())


# --- a VM's side -----------------------------------------------------------------------------

def query(name, qtype):
    """A DNS query in wire format: a random ID, recursion desired, one question."""
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return os.urandom(2) + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + labels + struct.pack("!HH", qtype, 1)


async def mix(args):
    loop = asyncio.get_running_loop()
    end = loop.time() + args.seconds
    counts = {"https": {"ok": 0, "failed": 0, "hosts": {}}, "dns": {"sent": 0, "answered": 0},
              "downloads": {"ok": 0, "failed": 0, "bytes": 0, "bursts": 0}, "errors": {}}

    def failed(kind, error):
        key = f"{kind}: {type(error).__name__} {error}"[:120]
        counts["errors"][key] = counts["errors"].get(key, 0) + 1

    async def https_fetch(host):
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, 443), args.timeout)
        try:
            banner = await asyncio.wait_for(reader.readline(), args.timeout)
            if not banner.startswith(b"HTTP/"):
                raise RuntimeError(f"banner {banner[:40]!r}")
            writer.write(b"GET / HTTP/1.1\r\n")
            await writer.drain()
        finally:
            writer.close()

    async def web():
        hosts = args.https.split(",")
        tasks, n = set(), 0
        while loop.time() < end:
            host = hosts[n % len(hosts)]
            n += 1

            async def one(host=host):
                try:
                    await https_fetch(host)
                    counts["https"]["ok"] += 1
                    counts["https"]["hosts"][host] = counts["https"]["hosts"].get(host, 0) + 1
                except Exception as e:
                    counts["https"]["failed"] += 1
                    failed("https " + host, e)
            tasks.add(asyncio.create_task(one()))
            tasks = {t for t in tasks if not t.done()}
            await asyncio.sleep(args.https_interval)
        await asyncio.gather(*tasks)

    async def resolve(name, qtype):
        family = socket.AF_INET6 if ":" in args.dns else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setblocking(False)
        try:
            packet = query(name, qtype)
            await loop.sock_connect(sock, (args.dns, DNS_PORT))
            await loop.sock_sendall(sock, packet)
            counts["dns"]["sent"] += 1
            reply = await asyncio.wait_for(loop.sock_recv(sock, 512), args.timeout)
            if reply[:2] == packet[:2] and reply[2] & 0x80:
                counts["dns"]["answered"] += 1
            else:
                failed("dns", RuntimeError("not a reply to the query"))
        except Exception as e:
            failed("dns", e)
        finally:
            sock.close()

    async def dns():
        tasks, n = set(), 0
        while loop.time() < end:
            name = f"host{n % 20}.tenant.example"
            n += 1
            tasks |= {asyncio.create_task(resolve(name, 1)), asyncio.create_task(resolve(name, 28))}
            tasks = {t for t in tasks if not t.done()}
            await asyncio.sleep(1)
        await asyncio.gather(*tasks)

    async def download():
        reader, writer = await asyncio.wait_for(asyncio.open_connection(args.mirror, MIRROR_PORT), args.timeout)
        try:
            writer.write(b"GET /%d HTTP/1.0\r\n\r\n" % args.size)
            await writer.drain()
            header = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), args.timeout)
            got = 0
            while got < args.size:
                chunk = await asyncio.wait_for(reader.read(65536), args.timeout)
                if not chunk:
                    break
                got += len(chunk)
            if not header.startswith(b"HTTP/1.0 200") or got != args.size:
                raise RuntimeError(f"short download: {got} of {args.size} bytes")
            return got
        finally:
            writer.close()

    async def packages():
        await asyncio.sleep(min(5, args.burst_every))
        while loop.time() < end:
            started = loop.time()
            results = await asyncio.gather(*(download() for _ in range(args.parallel)), return_exceptions=True)
            counts["downloads"]["bursts"] += 1
            for r in results:
                if isinstance(r, Exception):
                    counts["downloads"]["failed"] += 1
                    failed("download", r)
                else:
                    counts["downloads"]["ok"] += 1
                    counts["downloads"]["bytes"] += r
            await asyncio.sleep(max(0, min(args.burst_every - (loop.time() - started), end - loop.time())))

    await asyncio.gather(web(), dns(), packages())
    print(json.dumps(counts), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--dns", required=True, help="addresses to answer DNS queries on, comma-separated")
    p = sub.add_parser("mix")
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--https", required=True, help="hosts with the lab's listener on 443, comma-separated")
    p.add_argument("--https-interval", type=float, default=0.5)
    p.add_argument("--dns", required=True)
    p.add_argument("--mirror", required=True)
    p.add_argument("--burst-every", type=float, default=30)
    p.add_argument("--parallel", type=int, default=16)
    p.add_argument("--size", type=int, default=300_000)
    p.add_argument("--timeout", type=float, default=10)
    args = parser.parse_args()
    if args.cmd == "serve":
        serve(args)
    else:
        asyncio.run(mix(args))


if __name__ == "__main__":
    main()
