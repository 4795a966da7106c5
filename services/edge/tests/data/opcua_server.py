"""A small OPC UA server for the edge service's tests (services/edge/tests/opcua.rs).

Usage: python3 opcua_server.py PORT [--secure PKI_DIR --user NAME:PASSWORD]

Serves opc.tcp://127.0.0.1:PORT/mom/ with the nodes ns=2;s=Press1.State (Int32),
ns=2;s=Press1.Count (UInt32) and ns=2;s=Press1.Product (String). Without --secure the endpoint
has security None and takes anonymous users; with it, only Basic256Sha256 SignAndEncrypt and
the one user (its certificate and key are made in PKI_DIR when missing).

Prints `ready` once listening. Reads commands from stdin, one a line:
    set Press1.Count 5   writes the value with the current time as its source timestamp (and a
                         server timestamp 7 s later, so the two can be told apart); answers
                         `ok <source timestamp in ms since the epoch>`
    quit                 stops (so does the end of stdin)
"""

import asyncio
import datetime
import sys

try:
    from asyncua import Server, ua
    from asyncua.crypto.permission_rules import User, UserRole
except ImportError as err:
    print(
        f"the Python package asyncua is missing ({err}): install it with `pip install asyncua`",
        file=sys.stderr,
        flush=True,
    )
    sys.exit(3)

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
NAMESPACE = "urn:mom:test:press"
NODES = {
    "Press1.State": (ua.VariantType.Int32, 1),
    "Press1.Count": (ua.VariantType.UInt32, 100),
    "Press1.Product": (ua.VariantType.String, "P-100"),
}


class OneUser:
    """Accepts exactly one user name and password."""

    def __init__(self, name, password):
        self.name = name
        self.password = password

    def get_user(self, iserver, username=None, password=None, certificate=None):
        if username == self.name and password == self.password:
            return User(role=UserRole.User)
        return None


def make_certificate(pki_dir):
    """Returns the server's certificate (DER) and key (PEM) paths, making them when missing."""
    import ipaddress
    import os
    import socket

    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID
    from cryptography.hazmat.primitives import serialization
    from asyncua.crypto import cert_gen

    os.makedirs(pki_dir, exist_ok=True)
    cert_path = os.path.join(pki_dir, "server-cert.der")
    key_path = os.path.join(pki_dir, "server-key.pem")
    if not os.path.exists(cert_path):
        key = cert_gen.generate_private_key()
        cert = cert_gen.generate_self_signed_app_certificate(
            key,
            "mom test server",
            {},
            [
                x509.UniformResourceIdentifier("urn:mom:test:server"),
                x509.DNSName(socket.gethostname()),
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ],
            extended=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        )
        with open(key_path, "wb") as f:
            f.write(cert_gen.dump_private_key_as_pem(key))
        with open(cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.DER))
    return cert_path, key_path


async def main():
    args = sys.argv[1:]
    port = int(args[0])
    secure = args[args.index("--secure") + 1] if "--secure" in args else None
    user = args[args.index("--user") + 1].split(":", 1) if "--user" in args else None

    server = Server(user_manager=OneUser(*user) if user else None)
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/mom/")
    server.set_server_name("mom test server")
    await server.set_application_uri("urn:mom:test:server")
    if secure:
        cert_path, key_path = make_certificate(secure)
        await server.load_certificate(cert_path)
        await server.load_private_key(key_path)
        server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
        server.set_identity_tokens([ua.UserNameIdentityToken])
    else:
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        server.set_identity_tokens([ua.AnonymousIdentityToken])
    ns = await server.register_namespace(NAMESPACE)
    press = await server.nodes.objects.add_object(ua.NodeId("Press1", ns), "Press1")
    variables = {}
    for name, (variant_type, initial) in NODES.items():
        variables[name] = (
            await press.add_variable(
                ua.NodeId(name, ns), name.split(".")[1], ua.Variant(initial, variant_type)
            ),
            variant_type,
        )

    loop = asyncio.get_running_loop()
    async with server:
        print("ready", flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            words = line.split()
            if not words or words[0] == "quit":
                break
            if words[0] != "set" or len(words) != 3 or words[1] not in variables:
                print(f"error unknown command {line.strip()!r}", flush=True)
                continue
            node, variant_type = variables[words[1]]
            text = words[2]
            value = text if variant_type == ua.VariantType.String else int(text)
            source = datetime.datetime.now(datetime.timezone.utc)
            # Written past the Write service, which would set the server timestamp itself.
            await server.write_attribute_value(
                node.nodeid,
                ua.DataValue(
                    ua.Variant(value, variant_type),
                    SourceTimestamp=source,
                    ServerTimestamp=source + datetime.timedelta(seconds=7),
                ),
            )
            print(f"ok {(source - EPOCH) // datetime.timedelta(milliseconds=1)}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
