"""MONAI Label train tasks: thin adapters over ``lib``'s networks, transforms and losses."""
