"""Bad input on the command line ends in one line that names the problem and exit code 2,
never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from werkzeug.security import check_password_hash

ROOT = Path(__file__).resolve().parents[2]


def hash_password(stdin: bytes, user: str = "alice") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "app.py", "--hash-password", user],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_a_password_that_is_not_utf8_is_one_line_and_exit_code_2() -> None:
    secret = b"caf\xe9-s3cret"  # Latin-1
    result = hash_password(secret + b"\n")
    assert result.returncode == 2
    assert result.stdout == b""
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "UTF-8" in lines[0], result.stderr
    assert b"Traceback" not in result.stderr and b"s3cret" not in result.stderr


def test_a_utf8_password_is_hashed_as_utf8_whatever_the_locale() -> None:
    password = "café-s3cret"
    result = subprocess.run(
        [sys.executable, "app.py", "--hash-password", "alice"],
        input=(password + "\n").encode(),
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=True,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "PYTHONIOENCODING": "latin-1"},
    )
    user, _, hashed = result.stdout.decode().strip().partition(":")
    assert user == "alice" and check_password_hash(hashed, password)
