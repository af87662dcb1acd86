"""Scale: one process, one event loop, 200 hosts answering 200 concurrent pypsrp clients."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from pypsrp.client import Client

from simulator import Fleet
from tests.support.simfakes import USER, fake_factory, new_password

pytestmark = pytest.mark.network
HOSTS = 200


def test_200_hosts_serve_200_concurrent_clients():
    """200 simulated hosts each answer their own pypsrp client, all at once, without an error."""
    password = new_password()
    start = threading.Barrier(HOSTS)
    building = threading.Lock()  # pypsrp's WSMan() edits ElementTree's process-wide namespace map: one at a time

    def scan(port: int) -> str:
        start.wait(timeout=60)  # every client connects at the same moment
        with building:
            client = Client("127.0.0.1", port=port, username=USER, password=password, ssl=False, auth="ntlm",
                            connection_timeout=60, read_timeout=60)
        with client:
            stdout, stderr, rc = client.execute_cmd("hostname")
        assert (stderr, rc) == ("", 0)
        return stdout

    with Fleet(profiles=["fake"] * HOSTS, password=password, machine_factory=fake_factory) as fleet:
        with ThreadPoolExecutor(max_workers=HOSTS) as pool:
            answers = list(pool.map(scan, [h.port for h in fleet.hosts]))
        assert answers == [f"{h.name}\r\n" for h in fleet.hosts]
        assert all(h.counters.auth_handshakes == 1 and h.commands == ["hostname"] for h in fleet.hosts)
