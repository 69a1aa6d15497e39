"""The tuner: searches circuit settings by compiling (circuit stage) and proving (proof stage).

It sits above both stages it drives; ``zkml.compile_model(tune=True)`` (in ``zkml.pipeline``)
calls it, so the circuit stage never imports it.
"""
