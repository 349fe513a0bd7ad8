"""The experiments behind the later chapters: runs too long for a chapter, trained by
`make experiments` (locally or as Dask tasks, course_utils.cluster) and committed as one
file per run, which the chapters load.

- ``sweep``: chapter 10's architecture sweep: variants, schedule, one result file per variant and seed.
- ``selection``: chapter 10's protocol: the selection rule on validation accuracy, the finalists tested once, heads trained longer until their training accuracy levels off.
- ``paired_statistics``: comparing two classifiers on the same test images: McNemar's exact test and a paired bootstrap.
- ``cluster_tasks``: these runs as Dask tasks (course_utils.cluster runs them).
- ``training_well``: chapter 7's runs: learning-rate sweeps, overfitting and its remedies, plain against residual stacks.
"""
