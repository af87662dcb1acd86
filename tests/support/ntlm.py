"""NTLM messages as a Windows server sends them, for logon tests without a simulator, and the NTLM hash forms a
test must never find in cmaudit's output."""

from __future__ import annotations

import struct

from scanner.winrm.ntlm import NtlmHashes, hash_functions

# MS-NLMP 2.2.2.5 NegotiateFlags that HTTP.sys sets in its CHALLENGE
_FLAGS = (0x00000001  # NTLMSSP_NEGOTIATE_UNICODE
          | 0x00000004  # REQUEST_TARGET (a target name follows)
          | 0x00000010  # SIGN
          | 0x00000020  # SEAL
          | 0x00000200  # NTLM
          | 0x00008000  # ALWAYS_SIGN
          | 0x00080000  # EXTENDED_SESSIONSECURITY
          | 0x00800000  # TARGET_INFO
          | 0x20000000  # 128
          | 0x40000000)  # KEY_EXCH
_HEADER = 48  # signature, type, target name fields, flags, challenge, reserved, target info fields (no version)


def _av_pair(av_id: int, text: str) -> bytes:
    value = text.encode("utf-16-le")
    return struct.pack("<HH", av_id, len(value)) + value


def ntlm_challenge() -> bytes:
    """An NTLM CHALLENGE (MS-NLMP 2.2.1.2, written here rather than with pyspnego's private message classes) with
    the flags and target info HTTP.sys sends: computer SMS01, domain LAB."""
    target_name = "LAB".encode("utf-16-le")
    target_info = _av_pair(1, "SMS01") + _av_pair(2, "LAB") + struct.pack("<HH", 0, 0)  # MsvAvEOL
    head = (b"NTLMSSP\x00" + struct.pack("<I", 2)
            + struct.pack("<HHI", len(target_name), len(target_name), _HEADER)
            + struct.pack("<I", _FLAGS) + b"12345678" + b"\x00" * 8
            + struct.pack("<HHI", len(target_info), len(target_info), _HEADER + len(target_name)))
    return head + target_name + target_info


def hash_forms(password: str) -> tuple[str, ...]:
    """Every spelling of the NTLM hashes cmaudit logs on with for `password` (none where it cannot hash)."""
    return NtlmHashes.of(password).secret_forms() if hash_functions() is not None else ()
