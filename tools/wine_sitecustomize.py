"""What wine 8 lacks, patched for cmaudit's Windows test run only (tools/windows_python.py installs this file
as `sitecustomize.py` into the Windows CPython it builds under wine; it is never part of cmaudit).

- `platform._wmi_query` aborts the process: wine's propsys.VariantToString is unimplemented. On Windows it
  raises OSError where WMI cannot answer, and `platform` then reads the version another way: do that.
- Wine's SSPI (msv1_0) crashes the process on the credentials sspilib acquires. Telling pyspnego that SSPI
  offers no protocol makes it use its own NTLM, as it does on Linux; cmaudit's SSPI paths are tested with
  fakes (tests/support/sspi.py) in both runs.
"""

from __future__ import annotations

import platform


def _no_wmi(*_args: object, **_kwargs: object) -> object:
    raise OSError("WMI is not available under wine")


platform._wmi_query = _no_wmi  # type: ignore[attr-defined]

try:
    from spnego import _sspi
except ImportError:  # pyspnego not installed in this environment (the wheelhouse check)
    pass
else:
    _sspi.SSPIProxy.available_protocols = classmethod(lambda cls, options=None: [])  # type: ignore[method-assign]
