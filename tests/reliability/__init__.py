"""Reliability and security scenarios (issue 7): load, faults, hostile input, secrets."""
