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
  pyruntime, or the numpy reference) on a task sequence, from a network
  pretrained on the first task: permuted tasks, or ``--sequence mnist,fashion``
  (data sets and transforms: ``mnist:rot=30``, ``mnist:noise=0.3``,
  ``mnist:classes=0-4``, ...); ``--seed 0,1,2`` runs seeds and reports the
  continual-learning metrics as mean +- sd; ``--stream-pretrain K``: stream
  learning instead (pretrained on K samples, the device learns from the rest).
- ``plot``: several result CSVs side by side in one figure.
- ``curves``: per-epoch training and test accuracy of ``export.train`` checkpoints.
- ``table``: markdown rows (final accuracies, minutes, command) of run summaries.

Modules: ``common`` (files and plots), ``continual`` (float training), ``ewc``,
``quadratic``, ``curves``, ``device`` (public: ``learn_stream(rt, tasks, eval_every)``,
``evaluate(rt, tests)``, ``run_device``), ``tasks`` (task sequences),
``metrics`` (average accuracy, backward transfer, forgetting; seeds). Outputs go to ``build/results/`` (gitignored).
"""
