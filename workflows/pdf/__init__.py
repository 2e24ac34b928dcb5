"""PDF side of signing: intake of untrusted files, PAdES signatures and stamps, verification."""
