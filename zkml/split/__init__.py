"""Split proving: one model cut into segments, proven in parallel, linked by commitments.

``cut`` plans the cut (ONNX tensor boundaries, balanced by rows), ``compile`` compiles each
segment, ``keys`` sets them up with one SRS, ``prove`` runs the witness chain once and the
segment proofs on the batch executor, ``verify`` checks every segment and every link.
"""
