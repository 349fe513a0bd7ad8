"""Helpers shared by the chapters of the CNN course book.

Modules are named for what they hold; import them explicitly, e.g.
``from course_utils.data import load_mnist``.

- ``activations``: feature maps of a trained model's layers, display scaling, dead channels.
- ``architectures``: the variants of the source CNN compared in chapter 10, receptive fields, parameter tables.
- ``atomic_files``: writing files atomically (temporary name, fsync, rename); every file the course writes.
- ``backprop``: the backward pass the chapters teach, in NumPy: softmax and cross-entropy, dense, ReLU, dropout, convolution and pooling gradients, Adadelta.
- ``batchnorm``: batch normalisation forward (training and inference) and backward, in NumPy, as Keras computes it.
- ``checks``: the exercises' checkers and their registry ``EXERCISES``.
- ``cluster``: running tasks on a Dask cluster (this machine or many), each result stored once as it arrives; the tasks are in ``experiments.cluster_tasks`` and ``grading.cluster_tasks``.
- ``confusion``: the confusion matrix of a classifier's predictions.
- ``data``: loading, validating and preparing MNIST (the one place that reads the file).
- ``experiments``: the runs behind chapters 7 and 10 (a subpackage): the architecture sweep, the selection protocol, the training-well runs.
- ``explorers``: interactive explorers for the static HTML book, with no kernel and no network.
- ``gradient_check``: checking a gradient with no library: centred finite differences, relative error.
- ``grading``: grading returned notebooks (a subpackage): each in a sandbox, every verdict in the grader, the policy of what is credited, the grade store.
- ``i18n``: the language of the checkers' messages (English or Japanese), with gettext.
- ``im2col``: the fast im2col convolution ``conv2d_im2col``: batches, threads, memory budget, cores.
- ``initialisation``: the He and Glorot scales of initial weights, and the fans Keras counts.
- ``mnist_preprocessing``: MNIST's own preprocessing of a drawn digit (20 x 20 box, anti-aliased, centred by mass in 28 x 28).
- ``models``: the source CNN, the MLP baseline, the small CNN, and loading their reference runs.
- ``optimizers``: SGD (with momentum, Nesterov), Adam and Adadelta as NumPy update rules, exactly as Keras 3.
- ``ops``: the operations the chapters teach, in NumPy: convolution, padding, pooling, im2col's unrolling.
- ``plots``: figures that several chapters draw; every helper returns its ``Figure``.
- ``quantization``: weights as int8 with one scale per output channel, and a Keras model with those weights.
- ``run_store``: training configurations, run manifests, and saving and loading trained runs.
- ``shifted_digits``: digits moved by whole pixels (chapter 4's shifts), a criterion that separates architectures.
- ``time_limit``: a time limit on a block of code (``SIGALRM``), for the checks and the grading worker.
"""

__version__ = "0.1.0"  # the one place the version is stated (pyproject.toml reads it)
