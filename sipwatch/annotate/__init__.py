"""sipwatch.annotate layer (see DESIGN.md)."""
