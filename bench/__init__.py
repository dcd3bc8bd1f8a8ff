"""`make bench`: measure the product end to end on real processes (see README, "Benchmarks")."""
