"""sipwatch.correlate layer (see DESIGN.md)."""
