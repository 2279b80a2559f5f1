"""Reads `callgrind_annotate --inclusive=yes` output: the program's total instructions and, per named pattern, the
inclusive count of the outermost matching function (the largest inclusive figure among the frames that exist in
the binary). Shared by bench/callgrind_flow.sh and bench/callgrind_federated.sh."""
import re

# The RSA private-key operation, inclusive: everything a signature costs (the JWS signing input is hashed inside it
# too, a few µs): keyway's `RsaKey::sign`, or where it was inlined libcrypto's `EVP_DigestSign` / ring's
# `KeyPair::sign` (binaries before issue 16).
RSA_SIGN = r"(keyway::crypto::keys::RsaKey::sign|ring::rsa::keypair::KeyPair::sign|\bEVP_DigestSign)\b"

_LINE = re.compile(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(?:PROGRAM TOTALS|(\S.*))$")


def parts(path, patterns):
    """(total, {name: inclusive instructions}) for `patterns` = {name: regex}."""
    total, found = None, {k: 0 for k in patterns}
    for line in open(path, errors="replace"):
        m = _LINE.match(line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", ""))
        if m.group(2) is None:
            total = ir
            continue
        for k, p in patterns.items():
            if re.search(p, m.group(2)):
                found[k] = max(found[k], ir)
    return total, found
