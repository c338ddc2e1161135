"""Test sets and evals: cases run across configurations, checked by assertions, timed."""
