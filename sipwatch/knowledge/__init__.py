"""sipwatch.knowledge layer (see DESIGN.md)."""
