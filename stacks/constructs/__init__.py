"""Reusable constructs: one Lambda from a catalogue entry, one REST API from a service's functions."""
