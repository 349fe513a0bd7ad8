# Kernel settings for building and testing the book (the Makefile sets IPYTHONDIR here).
# TensorFlow's C++ runtime writes a start-up banner with timestamps straight to file
# descriptor 2. Captured, it would land in stored outputs and make nbval flaky (it can
# arrive after the cell has finished), so the kernel does not forward C-level output.
c = get_config()  # noqa: F821  (provided by IPython when it reads this file)
c.IPKernelApp.capture_fd_output = False
# `make test` executes chapters in two lanes at once; kernels sharing one history file could
# print "database is locked" into an output. A book's kernels need no history.
c.HistoryManager.hist_file = ":memory:"
