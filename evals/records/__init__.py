"""Records store benchmark: write/read throughput with and without SM4 encryption on SQLite and PostgreSQL."""
