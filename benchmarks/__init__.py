"""Speed and cost measurements, run by hand (``make bench``); never asserted in tests.

Each benchmark measures a baseline in the same run and prints ratios against it, so numbers
from a shared, noisy machine still compare.
"""
