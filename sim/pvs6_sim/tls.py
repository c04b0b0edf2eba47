"""An ephemeral self-signed certificate, like the one the real PVS6 varserver presents over HTTPS."""

from __future__ import annotations

import socket
import ssl
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed_context(common_name: str = "pvs6.local") -> ssl.SSLContext:
    """Build a server-side SSL context with a fresh self-signed certificate (valid for a few days).

    Parameters
    ----------
    common_name : str
        Subject CN of the certificate; clients are expected not to verify it (the real one is self-signed).

    Returns
    -------
    ssl.SSLContext
        Ready for `wrap_socket(..., server_side=True)`.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(tz=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name), x509.DNSName("localhost")]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="pvs6-sim-tls-") as tmp:
        cert_path, key_path = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context.load_cert_chain(cert_path, key_path)
    return context


_TLS_HANDSHAKE = 0x16  # first byte of a TLS ClientHello record


def tls_or_plain(sock: socket.socket, context: ssl.SSLContext, timeout_s: float = 5.0) -> socket.socket:
    """Wrap ``sock`` in TLS when the client opened with a TLS handshake, else hand it back as plain HTTP.

    A real PVS6 answers ``http://`` on port 80 and ``https://`` on 443; one loopback port serving both lets
    a test configure ``http://127.0.0.1:<port>`` and still watch the edge switch to HTTPS for the varserver.
    """
    sock.settimeout(timeout_s)
    try:
        first = sock.recv(1, socket.MSG_PEEK)
    except OSError:
        return sock
    if first and first[0] == _TLS_HANDSHAKE:
        return context.wrap_socket(sock, server_side=True)
    return sock


__all__ = ["self_signed_context", "tls_or_plain"]
