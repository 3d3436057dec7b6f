"""Small real servers for tests: they listen on loopback ports and record what they receive."""
