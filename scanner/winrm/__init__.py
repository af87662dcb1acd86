"""The only code that speaks WS-Management / WinRS: sessions, fault translation, collection."""
