"""chainsim unit, property and plugin tests."""
