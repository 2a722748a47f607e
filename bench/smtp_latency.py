#!/usr/bin/python3
"""Per-message latency of an SMTP path, for bench/smtp.sh (smtp-source reports none).

  smtp_latency.py HOST PORT [--sessions 1] [--size BYTES] [--seconds S] [--pause-ms MS] [--new-connection]

bench/smtp.sh runs it as a probe *during* a throughput cell: smtp-source (C) keeps the path
loaded at the cell's concurrency, and this probe, one extra session, times its own messages
through the same path. A Python client cannot generate the load itself without becoming the
bottleneck (a closed loop of 10-50 sessions in one interpreter spends more time in the client
than in a fast path), so it only measures; with --pause-ms between messages its own share of
the path stays small (bench/smtp.sh subtracts its messages from the sink's count).

Each session is a thread with a blocking socket (the interpreter's switch interval is lowered
to 0.5 ms so a woken thread is not kept waiting for the GIL). No pipelining, one recipient,
SIZE bytes of payload in 78-character lines after three headers, like smtp-source.
What is timed (time.perf_counter_ns around the socket calls, nothing else in between):
  - with --new-connection: connect -> 220 -> EHLO -> MAIL -> RCPT -> DATA -> text -> final 250,
    all a sender waits for per message (the QUIT after it is not timed);
  - without: MAIL -> RCPT -> DATA -> text -> final 250 on a connection opened once.
Prints one JSON object: count, errors, messages/s, p50/p90/p99/max in ms (nearest rank).
"""
import argparse, json, math, socket, sys, threading, time


def message(size):
    line = b"La la la la la la la la la la la la la la la la la la la la la la la la la la\r\n"  # 78 + CRLF
    body = (line * (size // len(line) + 1))[:size]
    if not body.endswith(b"\r\n"):
        body = body[:-2] + b"\r\n"
    head = b"From: <bench@vm.example>\r\nTo: <rcpt@sink.example>\r\nSubject: latency probe\r\n\r\n"
    return head + body + b".\r\n"


def reply(stream):
    """Reads one (possibly multi-line) reply; returns its code."""
    while True:
        line = stream.readline()
        if not line:
            raise ConnectionError("closed")
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3])


def expect(stream, code):
    got = reply(stream)
    if got != code:
        raise RuntimeError(f"expected {code}, got {got}")


class Session:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.stream = self.sock.makefile("rb")
        expect(self.stream, 220)
        self.sock.sendall(b"EHLO vm.bench.example\r\n")
        expect(self.stream, 250)

    def transaction(self, text):
        send, stream = self.sock.sendall, self.stream
        send(b"MAIL FROM:<bench@vm.example>\r\n")
        expect(stream, 250)
        send(b"RCPT TO:<rcpt@sink.example>\r\n")
        expect(stream, 250)
        send(b"DATA\r\n")
        expect(stream, 354)
        send(text)
        expect(stream, 250)

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
            reply(self.stream)
        except Exception:  # noqa: BLE001 - the message is already timed
            pass
        self.sock.close()


def worker(args, text, deadline, samples, errors):
    clock, pause = time.perf_counter_ns, args.pause_ms / 1000
    session = None
    while clock() < deadline:
        start = clock()
        try:
            if session is None:
                session = Session(args.host, args.port)
                if not args.new_connection:
                    start = clock()  # reused connections: time MAIL -> 250 only
            session.transaction(text)
            samples.append(clock() - start)
            if args.new_connection:
                session.close()
                session = None
        except Exception:  # noqa: BLE001 - counted
            errors.append(1)
            if session is not None:
                session.sock.close()
                session = None
            time.sleep(0.01)
        if pause:
            time.sleep(pause)
    if session is not None:
        session.close()


def percentile(values, q):
    return values[min(len(values), max(1, math.ceil(q * len(values)))) - 1] if values else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--pause-ms", type=float, default=0)
    parser.add_argument("--new-connection", action="store_true")
    args = parser.parse_args()
    sys.setswitchinterval(0.0005)
    text = message(args.size)
    samples, errors = [], []
    begin = time.perf_counter_ns()
    deadline = begin + int(args.seconds * 1e9)
    threads = [threading.Thread(target=worker, args=(args, text, deadline, samples, errors)) for _ in range(args.sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = (time.perf_counter_ns() - begin) / 1e9
    values = sorted(samples)
    ms = lambda ns: None if ns is None else round(ns / 1e6, 2)
    print(json.dumps({"count": len(values), "errors": len(errors), "msgs_per_s": round(len(values) / elapsed, 1),
                      "p50_ms": ms(percentile(values, 0.50)), "p90_ms": ms(percentile(values, 0.90)),
                      "p99_ms": ms(percentile(values, 0.99)), "max_ms": ms(values[-1] if values else None)}))


if __name__ == "__main__":
    main()
