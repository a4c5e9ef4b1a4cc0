"""A real SMTP server for tests (aiosmtpd, from Debian's python3-aiosmtpd).

Usage: smtp-server.py MODE PORT OUTDIR [CERT KEY USER PASSWORD]
MODE is plain (no TLS, no AUTH), starttls (STARTTLS required before AUTH) or ssl (implicit TLS).
Each message received is written to OUTDIR/<n>.eml; "ready" is printed once it listens.
"""
import asyncio
import itertools
import os
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

mode, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cert, key, user, password = (sys.argv[4:8] + [None] * 4)[:4]
counter = itertools.count(1)


class Handler:
    async def handle_DATA(self, server, session, envelope):
        path = os.path.join(outdir, f"{next(counter)}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(b"X-Envelope-To: " + ", ".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content)
        os.rename(path + ".tmp", path)
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password:
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)


context = None
if cert:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

kwargs = {"hostname": "127.0.0.1", "port": port}
if mode == "starttls":
    kwargs.update(tls_context=context, require_starttls=True, auth_require_tls=True, authenticator=authenticator, auth_required=True)
elif mode == "ssl":
    kwargs.update(ssl_context=context, authenticator=authenticator, auth_required=True, auth_require_tls=False)

controller = Controller(Handler(), **kwargs)
controller.start()
print("ready", flush=True)
try:
    asyncio.new_event_loop().run_until_complete(asyncio.Event().wait())
except KeyboardInterrupt:
    pass
finally:
    controller.stop()
