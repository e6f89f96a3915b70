"""Benchmarks and yardsticks of kind_tf: run from the checkout as `python -m bench.<name>`."""
