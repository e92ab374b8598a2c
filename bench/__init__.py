"""`make bench`: cold start, warm latency, throughput, streaming and pagination, each next to a baseline."""
