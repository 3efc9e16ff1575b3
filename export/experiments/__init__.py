"""The paper's continual-learning experiments, and the same on the device.

    python -m export.experiments NAME [options]

NAME is one of (each has the paper's settings as defaults; ``--help`` lists them):

- ``pmnist``: permuted MNIST, N tasks in a row (Fig. 2): ``--tasks 6 --width 1024
  --meta 1.35 --epochs 40 --bn task``; ``--ewc 5000`` for EWC, ``--interleaved``
  for the all-tasks-at-once upper bound, ``--bn shared|frozen`` for the board's
  BatchNorm.
- ``pdigits``: the same on scikit-learn's digits (seconds; what CI runs).
- ``sequence``: MNIST then Fashion-MNIST or the reverse (Fig. 3), m 0 vs 1.5.
- ``stream``: Stream-Fashion-MNIST (Fig. 4a): 60 subsets of 1000, 20 epochs each,
  m 2.5 vs 0; ``--full`` trains on all of it at once for comparison.
- ``quadratic``: the quadratic binary task of Fig. 5a-b.
- ``device``: the device's int8, one-sample-at-a-time rule (the C runtime through
  pyruntime, or the numpy reference) on a permuted sequence, from a network
  pretrained on the first task; ``--stream-pretrain K``: stream learning
  instead (pretrained on K samples, the device learns from the rest).
- ``plot``: several result CSVs side by side in one figure.
- ``table``: markdown rows (final accuracies, minutes, command) of run summaries.

Modules: ``common`` (files and plots), ``continual`` (float training), ``ewc``,
``quadratic``, ``device``. Outputs go to ``build/results/`` (gitignored).
"""
