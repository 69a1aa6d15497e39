"""Stage 3, the proof: circuit -> SRS + keys -> proof bundle -> local verification.

Modules: ``srs`` (trusted setup files), ``keys`` (setup), ``prove``, ``verify``, ``batch``
(many inputs on a local pool or Ray).
"""
