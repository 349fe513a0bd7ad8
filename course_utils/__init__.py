"""Helpers shared by the chapters of the CNN course book.

Modules are named for what they hold: ``data`` (loading and preparing MNIST),
``plots`` (figures that several chapters draw). Import them explicitly, e.g.
``from course_utils.data import load_mnist``.
"""

__version__ = "0.1.0"
