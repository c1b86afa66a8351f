#!/usr/bin/python3
"""test_secret_hygiene.py: what the programs' sources must not do with key material (issue 15),
checked in the source tree, since no run can show it:

- no private key is turned into PEM through mbedtls_pk_write_key_pem, which leaves the key's DER
  on its stack and frees an unwiped base64 copy (key files use common/key_pem.c; in memory the
  key goes to mbedTLS as DER);
- no wipe of a key, passphrase, password or other secret buffer is a plain memset, which GCC
  removes at -O2 when only free() or the end of the scope follows (mbedtls_platform_zeroize or
  cl_secret_free instead).

Usage: test_secret_hygiene.py SOURCE_DIR
"""
import os
import re
import sys

PROGRAM_DIRS = ("common", "ca-server", "comm-terminal", "factory-terminal", "device-agent")
PEM_WRITE = re.compile(r"\bmbedtls_pk_write_key_pem\s*\(")
SECRET = r"[\w.>\-\[\]]*(?:key|pass|secret|prewrite|generator|seed|password|expected|hash|pem)" \
         r"[\w.>\-\[\]]*"
MEMSET_WIPE = re.compile(r"\bmemset\s*\(\s*(" + SECRET + r")\s*,\s*0\s*,", re.IGNORECASE)


def sources(root):
    for top in PROGRAM_DIRS:
        for folder, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if name.endswith((".c", ".h")):
                    yield os.path.join(folder, name)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    problems, count = [], 0
    for path in sources(root):
        count += 1
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                where = "%s:%d" % (os.path.relpath(path, root), number)
                if PEM_WRITE.search(line):
                    problems.append("%s: mbedtls_pk_write_key_pem: %s" % (where, line.strip()))
                m = MEMSET_WIPE.search(line)
                if m:
                    problems.append("%s: memset wipe of %s (use mbedtls_platform_zeroize)"
                                    % (where, m.group(1)))
    if count < 50:
        print("test_secret_hygiene: FAILED: only %d sources found under %s" % (count, root))
        return 1
    for p in problems:
        print(p)
    if problems:
        print("test_secret_hygiene: FAILED: %d problem(s)" % len(problems))
        return 1
    print("test_secret_hygiene: %d sources, no key as PEM through mbedTLS, no memset wipe"
          % count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
