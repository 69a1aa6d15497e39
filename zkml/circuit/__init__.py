"""Stage 2, the circuit: an exported model + calibration samples -> a compiled ezkl circuit.

Modules: ``compile`` (compile_model, CompileConfig, layout estimate, accuracy evaluation).
"""
