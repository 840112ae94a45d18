"""Test support: real audio from espeak-ng, servers run on loopback in a background thread."""
