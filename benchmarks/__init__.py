"""Benchmarks: Footfall measured side by side with the tool a user would otherwise use."""
