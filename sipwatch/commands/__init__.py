"""The front doors: ``pcap``, ``live`` and ``check`` wire a source, the pipeline and a renderer.

``cli.py`` only parses options and calls one function here; these functions return an exit code.
"""
