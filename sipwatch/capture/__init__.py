"""sipwatch.capture layer (see DESIGN.md)."""
