#!/usr/bin/python3
"""SMTP clients for the lab VMs, for what swaks cannot do: exact bytes on the wire, and many
sessions or messages at once. Prints one JSON object.

  smtpclient.py raw HOST --file BYTES          # greet, send the file's bytes as they are, collect replies
  smtpclient.py idle HOST --sessions N         # open N sessions at once; report each greeting
  smtpclient.py connect HOST --count N         # N sessions one after the other: greeting, QUIT
  smtpclient.py messages HOST --count N        # one session, N messages: the reply to each MAIL FROM
  smtpclient.py recipients HOST --count N      # one message with N RCPTs: the reply to each
  smtpclient.py send HOST --file MSG [--8bitmime] [--size-param]   # one message; the final reply
  smtpclient.py inject HOST                    # STARTTLS with a MAIL FROM pipelined behind it, then TLS
"""
import argparse, json, socket, ssl, time


def connect(host, timeout=10):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, 25))
    return s


def read_reply(s):
    """One complete (possibly multiline) reply as text, or '' when the peer closed."""
    data = b""
    while True:
        chunk = s.recv(1)
        if not chunk:
            return data.decode(errors="replace")
        data += chunk
        if data.endswith(b"\r\n"):
            last = data.split(b"\r\n")[-2]
            if len(last) >= 4 and last[3:4] == b" " or len(last) == 3:
                return data.decode(errors="replace")


def command(s, line):
    s.sendall(line.encode() + b"\r\n")
    return read_reply(s)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode")
    p.add_argument("host")
    p.add_argument("--file")
    p.add_argument("--sessions", type=int, default=1)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--8bitmime", dest="eightbit", action="store_true")
    p.add_argument("--size-param", action="store_true")
    a = p.parse_args()
    out = {}
    if a.mode == "raw":
        s = connect(a.host)
        out["greeting"] = read_reply(s)
        s.sendall(open(a.file, "rb").read())
        replies = []
        s.settimeout(3)
        try:
            while True:
                reply = read_reply(s)
                if not reply:
                    break
                replies.append(reply.strip())
        except socket.timeout:
            pass
        out["replies"] = replies
    elif a.mode == "idle":
        socks, greetings = [], []
        for _ in range(a.sessions):
            s = connect(a.host)
            socks.append(s)
            greetings.append(read_reply(s).strip())
        out["greetings"] = greetings
        for s in socks:
            s.close()
    elif a.mode == "connect":
        greetings = []
        for _ in range(a.count):
            s = connect(a.host)
            greetings.append(read_reply(s).strip())
            try:
                command(s, "QUIT")
            except OSError:
                pass
            s.close()
        out["greetings"] = greetings
    elif a.mode == "messages":
        s = connect(a.host)
        read_reply(s)
        command(s, "EHLO vm.lab.example")
        replies = []
        for i in range(a.count):
            reply = command(s, "MAIL FROM:<rate@vm.lab.example>").strip()
            replies.append(reply)
            if reply.startswith("250"):
                command(s, "RCPT TO:<sink@example.org>")
                command(s, "DATA")
                command(s, f"Subject: rate {i}\r\n\r\nmessage {i}\r\n.")
            else:
                command(s, "RSET")
        out["mail_replies"] = replies
        command(s, "QUIT")
    elif a.mode == "recipients":
        s = connect(a.host)
        read_reply(s)
        command(s, "EHLO vm.lab.example")
        command(s, "MAIL FROM:<many@vm.lab.example>")
        out["rcpt_replies"] = [command(s, f"RCPT TO:<r{i}@example.org>").strip() for i in range(a.count)]
        command(s, "RSET")
        command(s, "QUIT")
    elif a.mode == "send":
        body = open(a.file, "rb").read()
        s = connect(a.host, timeout=60)
        read_reply(s)
        out["ehlo"] = command(s, "EHLO vm.lab.example").strip()
        params = (" BODY=8BITMIME" if a.eightbit else "") + (f" SIZE={len(body)}" if a.size_param else "")
        out["mail"] = command(s, f"MAIL FROM:<big@vm.lab.example>{params}").strip()
        if out["mail"].startswith("250"):
            command(s, "RCPT TO:<sink@example.org>")
            out["data"] = command(s, "DATA").strip()
            if out["data"].startswith("354"):
                stuffed = b"\r\n".join(b"." + l if l.startswith(b".") else l for l in body.split(b"\r\n"))
                try:
                    s.sendall(stuffed + b".\r\n")
                    out["final"] = read_reply(s).strip()
                except OSError as e:
                    out["final"] = f"error: {e}"
        try:
            command(s, "QUIT")
        except OSError:
            pass
    elif a.mode == "inject":
        # The command injection of CVE-2011-0411: plaintext sent with STARTTLS must be
        # discarded, never executed inside the TLS session.
        s = connect(a.host)
        read_reply(s)
        command(s, "EHLO inject.lab.example")
        s.sendall(b"STARTTLS\r\nMAIL FROM:<injected@attacker.example>\r\n")
        out["starttls"] = read_reply(s).strip()
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        t = context.wrap_socket(s, server_hostname=None)
        out["tls"] = t.version()
        out["after_tls"] = command(t, "EHLO inject.lab.example").strip()
        out["mail"] = command(t, "MAIL FROM:<legit@tenant.example>").strip()
        command(t, "RCPT TO:<sink@example.org>")
        command(t, "DATA")
        out["final"] = command(t, "Subject: after injection\r\n\r\nclean\r\n.").strip()
        command(t, "QUIT")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
