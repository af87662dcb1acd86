"""A WinRM (WS-Management/WinRS) site-server simulator for tests and `make demo`.

It plays the Windows side, so it imports nothing from scanner/, inventory/ or reports/.
"""
