"""Stage 1, the model: a PyTorch module, an ONNX file or an estimator -> ONNX.

Modules: ``export`` (export, load_onnx; re-exports the two below), ``graph`` (check_onnx,
opset upgrade, describe a graph as an ExportedModel), ``reference`` (run_onnx: the float
reference, onnxruntime or onnx's reference evaluator), ``trees`` (estimators), ``inputs``
(input files), ``salt``. Nothing here knows about circuits.
"""
