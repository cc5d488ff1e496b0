#!/usr/bin/env python3
"""A small HTTP server for FetchTests, standard library only.

Listens on 127.0.0.1 at an ephemeral port, prints "PORT <n>" as its first line on stdout, and exits when its
stdin closes (the test's teardown) or after --lifetime seconds, whichever comes first.

Usage: http_test_server.py ROOT LOGFILE [--lifetime SECONDS]

Routes (FILE is a path relative to ROOT):
  /files/FILE         200 with the whole file; 206 for "Range: bytes=N-" or "bytes=N-M"; 416 when N >= size
  /ignore-range/FILE  200 with the whole file whatever Range says (servers that do not support ranges)
  /truncate/FILE      without Range: announces the full Content-Length, sends the first half, closes the
                      connection; with Range: as /files/ (so a resume completes the file)
  anything else       404
Every request appends one JSON line {"method", "path", "range"} to LOGFILE (flushed before answering).
"""
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.realpath(sys.argv[1])
LOG = sys.argv[2]
LIFETIME = float(sys.argv[sys.argv.index("--lifetime") + 1]) if "--lifetime" in sys.argv else 120.0
LOG_LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: the close marks the end of a truncated body

    def log_message(self, format, *args):  # keep the test output clean
        pass

    def do_GET(self):
        rng = self.headers.get("Range")
        with LOG_LOCK, open(LOG, "a") as f:
            f.write(json.dumps({"method": "GET", "path": self.path, "range": rng}) + "\n")
            f.flush()
        m = re.match(r"^/(files|ignore-range|truncate)/(.+)$", self.path)
        if not m:
            return self.send_error(404)
        mode, rel = m.group(1), m.group(2)
        path = os.path.realpath(os.path.join(ROOT, rel))
        if not path.startswith(ROOT + os.sep) or not os.path.isfile(path):
            return self.send_error(404)
        with open(path, "rb") as f:
            body = f.read()
        size = len(body)

        if rng is not None and mode != "ignore-range":
            r = re.match(r"^bytes=(\d+)-(\d*)$", rng.strip())
            if not r:
                return self.send_error(400)
            first = int(r.group(1))
            last = int(r.group(2)) if r.group(2) else size - 1
            if first >= size:
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % size)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            last = min(last, size - 1)
            part = body[first:last + 1]
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, size))
            self.send_header("Content-Length", str(len(part)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            self.wfile.write(part)
            return

        self.send_response(200)
        self.send_header("Content-Length", str(size))
        if mode != "ignore-range":
            self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if mode == "truncate":
            self.wfile.write(body[: size // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("PORT %d" % server.server_address[1], flush=True)

    def stop_on_stdin_eof():
        sys.stdin.read()
        server.shutdown()

    threading.Thread(target=stop_on_stdin_eof, daemon=True).start()
    timer = threading.Timer(LIFETIME, server.shutdown)
    timer.daemon = True
    timer.start()
    server.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    main()
