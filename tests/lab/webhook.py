#!/usr/bin/python3
"""The lab's webhook receiver: an HTTP server that stores every POST it gets, headers and body,
so tests can check the daemon's notices and verify their signatures themselves.

  webhook.py --store DIR [--port 8088] [--status 200]

DIR/N.json holds {"path", "headers", "body"} for the Nth request. --status makes it answer
with another status (a receiver that is down or refusing). DIR/status, when present, overrides
--status at run time, so a test can make the receiver fail and then recover.
"""
import argparse, itertools, json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counter = itertools.count(1)


def handler(args):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            status = args.status
            override = os.path.join(args.store, "status")
            if os.path.exists(override):
                status = int(open(override).read().strip() or args.status)
            if status == 200:
                record = {"path": self.path, "headers": dict(self.headers.items()), "body": body.decode("utf-8", "replace")}
                with open(os.path.join(args.store, f"{next(counter)}.json"), "w") as out:
                    json.dump(record, out)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--status", type=int, default=200)
    args = parser.parse_args()
    os.makedirs(args.store, exist_ok=True)
    ThreadingHTTPServer(("0.0.0.0", args.port), handler(args)).serve_forever()


if __name__ == "__main__":
    main()
