"""sd_notify fixture: a non-Node app that serves HTTP on PORT and says
READY=1 on NOTIFY_SOCKET only once it listens, after a deliberate delay."""
import http.server
import os
import socket
import time


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"ok": true, "pid": %d}\n' % os.getpid()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


time.sleep(float(os.environ.get("DELAY", "0.3")))
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
addr = os.environ.get("NOTIFY_SOCKET")
if addr:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"READY=1\nSTATUS=serving", addr)
        if os.environ.get("METRIC"):
            s.sendto(b"TEND_METRIC jobs=" + os.environ["METRIC"].encode(), addr)
server.serve_forever()
