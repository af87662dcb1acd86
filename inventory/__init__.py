"""What to scan: parse the inventories admins already keep into Host records.

    load_inventory(path, *, default_port=None, default_scheme="http", default_auth="ntlm") -> Inventory
"""

from inventory.load import load_inventory, parse_inventory_bytes
from inventory.model import AUTH_METHODS, FORMATS, SCHEMES, Defaults, Host, Inventory

__all__ = ["AUTH_METHODS", "FORMATS", "SCHEMES", "Defaults", "Host", "Inventory", "load_inventory",
           "parse_inventory_bytes"]
