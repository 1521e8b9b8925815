"""chainsim certification scenarios: `pytest scenarios/`."""
