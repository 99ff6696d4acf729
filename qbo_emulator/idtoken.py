"""OpenID Connect id_token: RS256 JWTs signed in pure Python with the emulator's fixed test key, and its JWKS.

The key below is a throw-away key made for this emulator and published with it: it proves nothing about anyone, so
never trust it outside tests. intuitlib decodes the header and payload with standard (not URL-safe) base64 (API.md
§1.4): ASCII JSON never yields "-" or "_" in base64url except through ">", "?", "~" and DEL, so those are escaped.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

KEY_ID = "qboemulatorkey1"
ID_TOKEN_TTL = 3600
_E = 65537
_N = int(
    "b9a3b0b98fb41167491c363781536b406a3d756b0712be18a265c596fc03a4584d617e4f33f5c5b101789c5de8032326"
    "2ae7ae8df3e9d2e4aa0e75f054b00a6733c770c9d81a031d9d3c0a52bcb35ebc3aa41411b27a1620e6384a283c3bc09a"
    "d559db30f20e9d764f6264a73de15e32b76196fb3b88221203ef5528195e388e942d57d00773ef50f69624ca93ab9310"
    "8a61c6ec2409d92137d8533e4bbd74f5378071ffebb1dbe9229e3673cea3ca583bb99e6bcceeaa2b3b1b5b4e31d71b36"
    "479d13b1b9c2e76a695b60aa1511d2b1c2bc29b0d3e7c608c0b81c84b1d80a6e1bd0fc7aeb2d2102e377ae241b333730"
    "6fe7e0348030e23b02fa2091f7aa7e79",
    16,
)
_D = int(
    "3f3839030dfc00c14540a4fb6f6b7d3c49474cd424c083ef2d1458f4a636874d706ccc9b247d8529abefeb307fc6dc68"
    "2f21b4c1b05892483fdc54db2d116be436da00d5d1bbbf668d198405268634b3b2df6b30ebb070161c2651fadf286a30"
    "a5dfc7ff24854852a0e39d40e7434cd51b667cb314ff08bb4c8e6badbaeb3f7998a4a5d74f3a556ac5367308d482276f"
    "cfe17dcabbaaeacc1f426b47eeac7980f7266b9828add39bc934379738ce9049d74c09aeff929e0945751e6e75bb13e0"
    "5b192a1775505f34a8d6075c28d6e846fbcec60ecec150081ad961535e458495a32287051599dd02f257e2e70b489de4"
    "95b00d9dcd5a2d4096233a9e5675ec1",
    16,
)
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")  # RFC 8017 §9.2 note 1
_BASE64URL_UNSAFE = str.maketrans({">": "\\u003e", "?": "\\u003f", "~": "\\u007e", "\x7f": "\\u007f"})


def jwks() -> dict[str, Any]:
    """The JSON Web Key Set served at jwks_uri."""
    return {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": KEY_ID, "n": _b64_int(_N), "e": _b64_int(_E)}]}


def id_token(*, issuer: str, client_id: str, realm_id: str, subject: str, now: float) -> str:
    """A signed id_token with the claims Intuit sends (iss, aud as a list, sub, realmid, auth_time, iat, exp)."""
    issued = int(now)
    header = {"kid": KEY_ID, "alg": "RS256"}
    payload = {
        "sub": subject,
        "aud": [client_id],
        "realmid": realm_id,
        "auth_time": issued,
        "iss": issuer,
        "exp": issued + ID_TOKEN_TTL,
        "iat": issued,
    }
    signing_input = f"{_segment(header)}.{_segment(payload)}"
    return f"{signing_input}.{_b64(_sign(signing_input.encode('ascii')))}"


def _segment(claims: dict[str, Any]) -> str:
    text = json.dumps(claims, separators=(",", ":"), ensure_ascii=True).translate(_BASE64URL_UNSAFE)
    return _b64(text.encode("ascii"))


def _sign(message: bytes) -> bytes:
    """RSASSA-PKCS1-v1_5 with SHA-256 (RS256)."""
    size = (_N.bit_length() + 7) // 8
    digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    encoded = b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info
    return pow(int.from_bytes(encoded, "big"), _D, _N).to_bytes(size, "big")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64_int(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))
