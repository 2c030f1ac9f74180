#!/usr/bin/python3
"""faultproxy.py PORTFILE UPSTREAM FAIL -- an HTTP proxy in front of the test
S3 server that answers some requests itself with a 500, as a server that
fails in the middle of a multipart upload would.

It forwards every request to UPSTREAM (http://127.0.0.1:PORT) unchanged --
the Host header too, so SigV4 signatures made for the proxy still verify --
and writes the port it listens on to PORTFILE.  FAIL says which requests
fail: "part:N" the upload of part N of every multipart upload, each time it
is tried; "part:N:once" only its first try.  A log of "METHOD PATH STATUS"
lines goes to PORTFILE.log.
"""
import http.client
import http.server
import os
import sys
import urllib.parse

portfile, upstream, fail = sys.argv[1], sys.argv[2], sys.argv[3]
up = urllib.parse.urlsplit(upstream)
kind, _, rest = fail.partition(":")
fail_part, _, fail_mode = rest.partition(":")
failed_once = set()
log = open(portfile + ".log", "a", buffering=1)


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def should_fail(self):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if kind != "part" or self.command != "PUT" or q.get("partNumber") != [fail_part]:
            return False
        upload = q.get("uploadId", [""])[0]
        if fail_mode == "once":
            if upload in failed_once:
                return False
            failed_once.add(upload)
        return True

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        if self.should_fail():
            msg = (b"<?xml version=\"1.0\"?><Error><Code>InternalError</Code>"
                   b"<Message>injected by faultproxy</Message></Error>")
            self.send_response(500)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            log.write("%s %s 500 injected\n" % (self.command, self.path))
            return
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
        headers = {k: v for k, v in self.headers.items()}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        # a HEAD's length is the object's, as the server said
        length = resp.getheader("Content-Length", "0") if self.command == "HEAD" else len(data)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()
        log.write("%s %s %d\n" % (self.command, self.path, resp.status))

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
