"""The one exception type that means "the user's input is wrong".

The CLI turns it into a one-paragraph message and exit code 2; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os


class InputError(Exception):
    """Bad input from the user: a file, a label, an argument.

    ``source`` names what was wrong (a path, or an option such as ``--label``); ``problem`` says what and, where
    possible, what would be accepted instead.
    """

    def __init__(self, source: str | os.PathLike, problem: str):
        self.source = str(source)
        self.problem = problem.strip()
        super().__init__(f"{self.source}: {self.problem}")
