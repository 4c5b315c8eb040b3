"""SIP messages: model, detection, parsing and stream framing (no I/O)."""
