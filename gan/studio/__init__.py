"""The design studio: a local web page to explore a trained generator (gan/studio/server.py says how)."""
