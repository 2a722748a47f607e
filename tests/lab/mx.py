#!/usr/bin/python3
"""The lab's mail exchanger on port 25 (IPv4 and IPv6): a real SMTP server that stores every
message it accepts, byte for byte, so tests can compare what a VM sent with what arrived.

  mx.py --store DIR [--port 25] [--cert PEM --key PEM] [--auth USER:PASSWORD]

For each accepted message DIR/N.eml holds the message text (dot-unstuffed, CRLFs as received)
and DIR/N.json the envelope: peer address and port, local address, EHLO name, MAIL FROM, RCPTs,
TLS version or null. DIR/sessions.log has one JSON line per connection.

Deliberately lenient like the MTAs SMTP smuggling exploits: a line holding only "." ends the
message whether it ended in CRLF or a bare LF. The relay must never let such a line through.
Offers PIPELINING, 8BITMIME, SMTPUTF8, SIZE and (with a certificate) STARTTLS. With --auth (a
submission smarthost): AUTH PLAIN and LOGIN offered over TLS only, and MAIL refused until logged in;
the envelope records the user.
"""
import argparse, asyncio, base64, itertools, json, os, socket, ssl, time

counter = itertools.count(1)


async def session(reader, writer, args, context):
    peer = writer.get_extra_info("peername")
    local = writer.get_extra_info("sockname")
    info = {"time": time.time(), "peer": peer[0], "peer_port": peer[1], "local": local[0], "ehlo": None, "tls": None,
            "messages": [], "commands": [], "auth": None}
    wanted = tuple(args.auth.split(":", 1)) if args.auth else None
    mail_from, rcpts = None, []

    def reply(text):
        writer.write(text.encode() + b"\r\n")

    reply("220 lab-mx.example ESMTP lab sink")
    try:
        while True:
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 60)
            if not line:
                break
            command = line.rstrip(b"\r\n").decode("utf-8", "replace")
            info["commands"].append(command)
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                info["ehlo"] = command[5:].strip()
                mail_from, rcpts = None, []
                if verb == "HELO":
                    reply("250 lab-mx.example")
                    continue
                lines = ["lab-mx.example", "PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE 52428800", "ENHANCEDSTATUSCODES"]
                if context and not info["tls"]:
                    lines.append("STARTTLS")
                if wanted and info["tls"]:
                    lines.append("AUTH PLAIN LOGIN")
                for i, text in enumerate(lines):
                    reply(("250 " if i == len(lines) - 1 else "250-") + text)
            elif verb == "STARTTLS" and context and not info["tls"]:
                reply("220 2.0.0 go ahead")
                await writer.drain()
                await writer.start_tls(context)
                ssl_object = writer.get_extra_info("ssl_object")
                info["tls"] = {"version": ssl_object.version(), "cipher": ssl_object.cipher()[0]}
                info["ehlo"], mail_from, rcpts = None, None, []
            elif verb == "AUTH" and wanted and info["tls"]:
                words = command.split(" ")
                if len(words) == 3 and words[1].upper() == "PLAIN":
                    fields = base64.b64decode(words[2]).decode("utf-8", "replace").split("\0")
                    given = tuple(fields[1:]) if len(fields) == 3 else None
                elif len(words) == 2 and words[1].upper() == "LOGIN":
                    reply("334 VXNlcm5hbWU6")
                    await writer.drain()
                    user = base64.b64decode((await reader.readline()).strip()).decode("utf-8", "replace")
                    reply("334 UGFzc3dvcmQ6")
                    await writer.drain()
                    given = (user, base64.b64decode((await reader.readline()).strip()).decode("utf-8", "replace"))
                else:
                    reply("504 5.5.4 unrecognized authentication type")
                    continue
                if given == wanted:
                    info["auth"] = given[0]
                    reply("235 2.7.0 authentication successful")
                else:
                    reply("535 5.7.8 authentication credentials invalid")
            elif verb == "MAIL" and wanted and not info["auth"]:
                reply("530 5.7.0 authentication required")
            elif verb == "MAIL":
                mail_from, rcpts = command[10:].strip(), []
                reply("250 2.1.0 ok")
            elif verb == "RCPT":
                if mail_from is None:
                    reply("503 5.5.1 MAIL first")
                elif "reject" in command.lower():
                    reply("550 5.1.1 no such user here")
                else:
                    rcpts.append(command[8:].strip())
                    reply("250 2.1.5 ok")
            elif verb == "DATA":
                if not rcpts:
                    reply("554 5.5.1 no valid recipients")
                    continue
                reply("354 end with <CRLF>.<CRLF>")
                await writer.drain()
                body = bytearray()
                while True:
                    data = await asyncio.wait_for(reader.readline(), 60)
                    if not data:
                        raise ConnectionError("closed in DATA")
                    if data.rstrip(b"\r\n") == b".":
                        break
                    body += data[1:] if data.startswith(b".") else data
                n = next(counter)
                with open(os.path.join(args.store, f"{n}.eml"), "wb") as f:
                    f.write(body)
                envelope = {"peer": peer[0], "peer_port": peer[1], "local": local[0], "ehlo": info["ehlo"], "mail_from": mail_from,
                            "rcpts": rcpts, "tls": info["tls"], "size": len(body), "auth": info["auth"]}
                with open(os.path.join(args.store, f"{n}.json"), "w") as f:
                    json.dump(envelope, f)
                info["messages"].append(n)
                mail_from, rcpts = None, []
                reply(f"250 2.0.0 queued as {n}")
            elif verb == "RSET":
                mail_from, rcpts = None, []
                reply("250 2.0.0 ok")
            elif verb == "NOOP":
                reply("250 2.0.0 ok")
            elif verb == "QUIT":
                reply("221 2.0.0 bye")
                await writer.drain()
                break
            else:
                reply("502 5.5.2 command not recognized")
    except (asyncio.TimeoutError, ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        with open(os.path.join(args.store, "sessions.log"), "a") as log:
            log.write(json.dumps(info) + "\n")
        writer.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--port", type=int, default=25)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--auth", help="USER:PASSWORD: require SMTP AUTH (over TLS) before MAIL")
    args = parser.parse_args()
    os.makedirs(args.store, exist_ok=True)
    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    async def serve():
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", args.port))
        server = await asyncio.start_server(lambda r, w: session(r, w, args, context), sock=sock, backlog=1024, limit=1 << 20)
        print("listening", flush=True)
        await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
