"""sipwatch: a SIP traffic annotator.

Every SIP message it sees is printed with what it means, why it happened in this exchange,
and what to do about it. One engine serves live capture, capture files and CI checks.
"""

from __future__ import annotations

__version__ = "0.1.0"
