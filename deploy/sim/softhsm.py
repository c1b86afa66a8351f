"""softhsm.py: a private SoftHSM2 (PKCS#11) token for the simulation, the tests and the benchmark:
its own softhsm2.conf and token folder under a work folder (SOFTHSM2_CONF is set for this process
and the programs it starts), the user PIN in a file of mode 0600 that certline reads through the
URI's pin-source, and OpenSC's pkcs11-tool to look at what the token holds.

The PINs of these throwaway tokens are given to softhsm2-util on its command line; an operator
runs softhsm2-util without --so-pin/--pin and types them (README, ca-server)."""

import os
import subprocess

MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
SO_PIN = "so-12345678"
USER_PIN = "user-4321-sim"
PIN_ENV = "CERTLINE_SIM_TOKEN_PIN"  # pkcs11-tool reads it with --pin env:...


def module_path():
    for path in MODULES:
        if os.path.exists(path):
            return path
    raise RuntimeError("SoftHSM2 is not installed (Debian package softhsm2)")


class SoftHsm:
    """Tokens labelled labels in work/softhsm/."""

    def __init__(self, work, labels=("certline-issuing",)):
        self.module = module_path()
        self.dir = os.path.join(work, "softhsm")
        tokens = os.path.join(self.dir, "tokens")
        os.makedirs(tokens, mode=0o700, exist_ok=True)
        self.conf = os.path.join(self.dir, "softhsm2.conf")
        with open(self.conf, "w") as f:
            f.write("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n"
                    "slots.removable = false\n" % tokens)
        os.environ["SOFTHSM2_CONF"] = self.conf
        self.pin_file = os.path.join(self.dir, "user.pin")
        with open(os.open(self.pin_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(USER_PIN + "\n")
        for label in labels:
            subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label,
                            "--so-pin", SO_PIN, "--pin", USER_PIN], check=True,
                           stdout=subprocess.DEVNULL)

    def uri(self, label, obj):
        """The PKCS#11 URI of the private key obj in the token label."""
        return ("pkcs11:token=%s;object=%s;type=private?module-path=%s&pin-source=file:%s"
                % (label, obj, self.module, self.pin_file))

    def token_uri(self, label):
        """The PKCS#11 URI of the token label itself (ca-server's device_key_token)."""
        return "pkcs11:token=%s?module-path=%s&pin-source=file:%s" % (label, self.module,
                                                                       self.pin_file)

    def tool(self, label, *args, check=False):
        """pkcs11-tool on the token label, logged in (the PIN from the environment, not argv)."""
        env = dict(os.environ, **{PIN_ENV: USER_PIN})
        return subprocess.run(["pkcs11-tool", "--module", self.module, "--token-label", label,
                               "--login", "--pin", "env:" + PIN_ENV] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, check=check, timeout=120)
