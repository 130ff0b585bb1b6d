"""facelib: train, prune and evaluate face-recognition CNNs on real faces.

Reproduces Alonso-Fernandez et al., "SqueezerFaceNet: Reducing a Small Face Recognition CNN
Even More Via Filter Pruning" (IWAIPR 2023), and "Deep network pruning: A comparative study on
CNNs in face recognition" (Pattern Recognition Letters 2025).

One subpackage per stage of the pipeline; a stage imports only the stages before it:

    data < networks < evaluation < training < pruning < deployment < study < findings

Each subpackage's docstring lists its modules. This top level keeps what every stage shares:
``errors`` (the one exception a user sees), ``io`` (atomic writes, safe loads), ``config`` (the
base of every run configuration) and the command line (``cli``, ``python -m facelib``).
"""
