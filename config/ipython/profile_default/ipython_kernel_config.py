# Kernel settings for building and testing the book (the Makefile sets IPYTHONDIR here).
# TensorFlow's C++ runtime writes a start-up banner with timestamps straight to file
# descriptor 2. Captured, it would land in stored outputs and make nbval flaky (it can
# arrive after the cell has finished), so the kernel does not forward C-level output.
c = get_config()  # noqa: F821  (provided by IPython when it reads this file)
c.IPKernelApp.capture_fd_output = False
