"""One connector per platform: parse, verify, handshake, send, limits."""
