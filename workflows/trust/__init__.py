"""The embedded trust service: keys, CAs, certificate profiles, CRL, OCSP and time-stamping."""
