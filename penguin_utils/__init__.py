"""Shared code of the *Penguin mixtures* book: data, scaling, models, sampling, assignment.

Import from the modules, e.g. ``from penguin_utils.assign import assign_clusters``; see
README.md for the module map.
"""

__version__ = "0.1.0"
