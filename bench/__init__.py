"""Benchmarks: each figure is printed beside an anchor measured in the same run, because absolute times drift."""
