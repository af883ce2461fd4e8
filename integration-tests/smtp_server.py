"""A real SMTP server on loopback for lookout's email tests (aiosmtpd, installed by scripts/test).

Listens on 127.0.0.1 (a free port), offers STARTTLS with a certificate made for the run (or
implicit TLS with --implicit-tls), requires AUTH PLAIN/LOGIN with the given user and password
once TLS is on, and stores each message it accepts as <n>.eml in --dir. Prints one JSON line
{"port": ..., "ca": ...} once it listens, then serves until stdin closes or it is killed.
"""

import argparse
import json
import os
import socket
import ssl
import subprocess
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def make_certificate(folder):
    """A CA for the run and a server certificate for localhost signed by it."""
    path = lambda name: os.path.join(folder, name)
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ca.key"), "-out", path("ca.pem"),
        "-days", "1", "-subj", "/CN=lookout test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("key.pem"), "-out", path("server.csr"),
        "-subj", "/CN=localhost")
    with open(path("server.ext"), "w") as ext:
        ext.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                  "extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n")
    run("x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
        "-CAcreateserial", "-out", path("cert.pem"), "-days", "1", "-extfile", path("server.ext"))
    return path("key.pem"), path("cert.pem"), path("ca.pem")


class Store:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            path = os.path.join(self.folder, f"{self.count:05}.eml")
        with open(path + ".tmp", "wb") as out:
            out.write(envelope.original_content or envelope.content)
        os.replace(path + ".tmp", path)
        return "250 Message accepted"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--user", default="lookout")
    parser.add_argument("--password", default="smtp-password")
    parser.add_argument("--implicit-tls", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    key, cert, ca = make_certificate(args.dir)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and \
            auth_data.login.decode() == args.user and auth_data.password.decode() == args.password
        return AuthResult(success=ok)

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    free_port = probe.getsockname()[1]
    probe.close()
    kwargs = dict(hostname="127.0.0.1", port=free_port, authenticator=authenticate, auth_require_tls=True)
    if args.implicit_tls:
        # The whole connection is TLS; aiosmtpd only counts STARTTLS as TLS for AUTH.
        kwargs["auth_require_tls"] = False
        controller = Controller(Store(args.dir), ssl_context=context, **kwargs)
    else:
        controller = Controller(Store(args.dir), tls_context=context, require_starttls=True, **kwargs)
    controller.start()
    print(json.dumps({"port": free_port, "ca": ca}), flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
