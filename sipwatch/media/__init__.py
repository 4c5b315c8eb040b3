"""Media: SDP bodies (RFC 8866), offer/answer (RFC 3264), RTP/RTCP streams (RFC 3550).

Sans-I/O like ``correlate``: fed SIP messages and UDP payloads with capture timestamps, it
returns typed facts (streams, findings); it has no clock and opens no file. It imports only
``sip``.
"""
