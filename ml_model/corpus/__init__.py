"""Generated pictures of digits and written numbers, by kind: shared by the tests and the benchmarks."""
