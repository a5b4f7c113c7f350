"""The export archive: a ZIP whose entries are encrypted with AES-256 (WinZip AE-2, which
7-Zip, WinZip, PeaZip and the tools built on 7-Zip open). The legacy ZipCrypto, which every
tool opens, is broken and never used."""

from __future__ import annotations

import io
from collections.abc import Mapping

import pyzipper


def encrypted_zip(files: Mapping[str, str], password: str) -> bytes:
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(
        buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(password.encode())
        archive.setencryption(pyzipper.WZ_AES, nbits=256)
        for name, text in files.items():
            archive.writestr(name, text.encode())
    return buffer.getvalue()
