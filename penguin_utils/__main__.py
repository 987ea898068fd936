"""``python -m penguin_utils COMMAND``: the same commands as the ``penguin-utils`` script.

``python -m penguin_utils check`` is the workshop's setup check. This file and
:mod:`penguin_utils.check` use only syntax old Pythons understand, so that a too-old
interpreter gets told so instead of a SyntaxError.
"""

import sys

from penguin_utils.check import python_problem

problem = python_problem(sys.version_info)
if problem:
    sys.stderr.write("penguin-utils: " + problem + "\n")
    sys.exit(1)

from penguin_utils.cli import main  # noqa: E402  (only after the version check)

sys.exit(main())
