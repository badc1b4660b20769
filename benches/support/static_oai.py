#!/usr/bin/env python3
"""Pre-rendered OAI-PMH pages served as static files, so that a harvest of them measures the
harvester alone (the upstream costs only a file read).

  static_oai.py crawl BASE_URL DIR   fetch Identify and every ListRecords page (oai_dc) of
                                     BASE_URL into DIR, one file per request
  static_oai.py serve DIR PORT       answer those requests from DIR on 127.0.0.1:PORT

A request is keyed by its verb and its resumptionToken (or metadataPrefix), whatever the order
or encoding of its arguments, since python's http.server itself ignores query strings.
"""

import hashlib
import http.server
import os
import re
import sys
import urllib.parse
import urllib.request


def key(query):
    args = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    verb = args.get("verb", "")
    rest = args.get("resumptionToken") or args.get("metadataPrefix") or ""
    return hashlib.sha1(f"{verb}\0{rest}".encode()).hexdigest()


def crawl(base, out):
    os.makedirs(out, exist_ok=True)
    query = "verb=Identify"
    with urllib.request.urlopen(f"{base}?{query}") as r:
        body = r.read()
    open(os.path.join(out, key(query)), "wb").write(body)
    query = "verb=ListRecords&metadataPrefix=oai_dc"
    pages = 0
    while query:
        with urllib.request.urlopen(f"{base}?{query}") as r:
            body = r.read()
        open(os.path.join(out, key(query)), "wb").write(body)
        pages += 1
        m = re.search(rb"<resumptionToken[^>]*>([^<]+)</resumptionToken>", body)
        query = None
        if m:
            token = m.group(1).decode().replace("&amp;", "&")
            query = "verb=ListRecords&" + urllib.parse.urlencode({"resumptionToken": token})
    print(f"{pages} pages")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    directory = "."

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/health":
            self.answer(200, b"ok")
            return
        try:
            body = open(os.path.join(self.directory, key(url.query)), "rb").read()
        except OSError:
            self.answer(404, b"not pre-rendered")
            return
        self.answer(200, body, "text/xml; charset=utf-8")

    def answer(self, code, body, kind="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(directory, port):
    Handler.directory = directory
    http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()


if __name__ == "__main__":
    {"crawl": crawl, "serve": serve}[sys.argv[1]](*sys.argv[2:])
