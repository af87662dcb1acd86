"""What to scan: parse the inventories admins already keep into `scanner.model.host.Host` records.

    load_inventory(path, *, default_port=None, default_scheme="http", default_auth="ntlm") -> Inventory
"""

from inventory.load import load_inventory, parse_inventory_bytes
from inventory.model import FORMATS, Defaults, Inventory

__all__ = ["FORMATS", "Defaults", "Inventory", "load_inventory", "parse_inventory_bytes"]
