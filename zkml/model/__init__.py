"""Stage 1, the model: a PyTorch module (or, later, an ONNX file or an estimator) -> ONNX.

Modules: ``export`` (export, load_onnx, run_onnx). Nothing here knows about circuits.
"""
