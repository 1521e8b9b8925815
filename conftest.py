"""Root conftest: intentionally empty.

The Hypothesis profiles `ci` (loaded by default) and `deep` (`--hypothesis-profile=deep`)
are registered by chainsim's pytest plugin (chainsim/pytest_plugin.py), so a user's repo
gets them too.
"""
