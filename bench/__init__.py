"""Benchmarks: they measure and report; they never fail a build."""
