"""sipwatch.render layer (see DESIGN.md)."""
