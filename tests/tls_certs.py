"""Test certificates made at test time with the `cryptography` package (a dependency of
Twisted's TLS extra, in the `test` extra): a CA, a server certificate for localhost/127.0.0.1
signed by it, an expired one, one for another host name, and a self-signed one."""
import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(common):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(subject_key, common, issuer_key, issuer_name, names=(), ca=False, days=(-1, 30)):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(common))
               .issuer_name(issuer_name or _name(common))
               .public_key(subject_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now + datetime.timedelta(days=days[0]))
               .not_valid_after(now + datetime.timedelta(days=days[1]))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if names:
        sans = []
        for n in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path, *objects):
    with open(path, "wb") as f:
        for o in objects:
            if isinstance(o, x509.Certificate):
                f.write(o.public_bytes(serialization.Encoding.PEM))
            else:
                f.write(o.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
    return path


class Certificates:
    """PEM files in `directory`: ca.pem; server.pem/server.key (localhost, 127.0.0.1, ::1);
    expired.pem/.key; otherhost.pem/.key (example.org); selfsigned.pem/.key (localhost)."""

    def __init__(self, directory):
        self.directory = directory
        ca_key = _key()
        ca_name = _name("fastreactor test CA")
        ca = _cert(ca_key, "fastreactor test CA", ca_key, ca_name, ca=True, days=(-1, 60))
        self.ca = _write(os.path.join(directory, "ca.pem"), ca)
        for stem, names, days in (("server", ("localhost", "127.0.0.1", "::1"), (-1, 30)),
                                  ("expired", ("localhost", "127.0.0.1"), (-30, -1)),
                                  ("otherhost", ("example.org",), (-1, 30))):
            key = _key()
            cert = _cert(key, names[0], ca_key, ca_name, names, days=days)
            setattr(self, stem, (_write(os.path.join(directory, stem + ".pem"), cert),
                                 _write(os.path.join(directory, stem + ".key"), key)))
        key = _key()
        cert = _cert(key, "localhost", key, None, ("localhost", "127.0.0.1"))
        self.selfsigned = (_write(os.path.join(directory, "selfsigned.pem"), cert),
                           _write(os.path.join(directory, "selfsigned.key"), key))
