"""Stage 2, the circuit: an exported model + calibration samples -> a compiled ezkl circuit.

Modules: ``compile`` (build_circuit, CompileConfig, layout estimate, accuracy evaluation).
"""
