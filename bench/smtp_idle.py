#!/usr/bin/python3
"""Concurrent idle SMTP sessions, for bench/smtp.sh.

  smtp_idle.py HOST PORT --sessions N [--parallel-connects 200] [--timeout 120]

Opens N connections to HOST:PORT (at most --parallel-connects handshakes in flight, so the
listener's backlog is never the limit) and waits until every one has read its 220 greeting.
Then prints one JSON line {"open": ..., "failed": ..., "seconds": ...} and keeps every session
open, silent, until its standard input closes or reaches end of file; then it closes them all.
The caller needs RLIMIT_NOFILE above N.
"""
import argparse, asyncio, json, sys, time


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--parallel-connects", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    gate = asyncio.Semaphore(args.parallel_connects)
    writers, failures = [], []

    async def one():
        async with gate:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(args.host, args.port), args.timeout)
                line = await asyncio.wait_for(reader.readline(), args.timeout)
                if not line.startswith(b"220"):
                    raise RuntimeError(line[:60].decode("ascii", "replace"))
                writers.append(writer)
            except Exception as error:  # noqa: BLE001 - counted and reported
                failures.append(f"{type(error).__name__}: {error}")

    start = time.monotonic()
    await asyncio.gather(*(one() for _ in range(args.sessions)))
    print(json.dumps({"open": len(writers), "failed": len(failures), "seconds": round(time.monotonic() - start, 2),
                      "first_failures": sorted(set(failures))[:3]}), flush=True)
    # Hold until the caller closes our stdin.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for writer in writers:
        writer.close()
    await asyncio.sleep(0.5)


if __name__ == "__main__":
    asyncio.run(main())
