"""``sipwatch check``: rules over recorded captures, for CI (docs/check.md).

``config`` loads and validates the rules file, ``rules`` defines the rules and evaluates them
over one capture's records, ``verdict`` applies the expectations and decides pass or fail.
"""
