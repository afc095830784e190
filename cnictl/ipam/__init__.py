"""IP address management: address ranges and the host-local compatible reservation store."""
