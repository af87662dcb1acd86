"""NTLM messages as a Windows server sends them, for logon tests without a simulator."""

from __future__ import annotations


def ntlm_challenge() -> bytes:
    """An NTLM CHALLENGE (pyspnego's own message classes) with the flags and target info HTTP.sys sends."""
    from spnego._ntlm_raw.messages import AvId, Challenge, NegotiateFlags, TargetInfo

    info = TargetInfo()
    info[AvId.nb_computer_name], info[AvId.nb_domain_name] = "SMS01", "LAB"
    flags = (NegotiateFlags.unicode | NegotiateFlags.ntlm | NegotiateFlags.target_info | NegotiateFlags.sign
             | NegotiateFlags.extended_session_security | NegotiateFlags.seal | NegotiateFlags.key_128
             | NegotiateFlags.key_exch | NegotiateFlags.always_sign)
    return Challenge(flags=flags, server_challenge=b"12345678", target_info=info, target_name="LAB").pack()
