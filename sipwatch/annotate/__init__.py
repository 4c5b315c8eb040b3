"""sipwatch.annotate layer (see DESIGN.md): events + knowledge -> annotations and remedies."""

from __future__ import annotations

from sipwatch.annotate.annotator import EXPLAIN_MODES, Annotation, Annotator, annotation_json

__all__ = ["EXPLAIN_MODES", "Annotation", "Annotator", "annotation_json"]
