"""The Keras releases keras_regkit supports, checked when it is imported.

We rely on a few Keras internals that move between releases (the JAX
trainer's state, `Layer._tracker`, `BackupAndRestore`'s private methods), so
we claim only the Keras minor release CI tests; `setup.cfg` says the same
(a test keeps them in step). Outside that range `import keras_regkit` fails
at once with one line naming the range, rather than with an
`AttributeError` deep inside `fit`. The check reads the installed
distribution's metadata, so it costs no `import keras`.
"""

import importlib.metadata
import re

#: Supported Keras releases, as (major, minor): lowest, and first excluded.
KERAS_LOWEST = (3, 15)
KERAS_EXCLUDED = (3, 16)
#: The same range as a pip requirement (setup.cfg's `install_requires`).
KERAS_REQUIREMENT = "keras>={}.{},<{}.{}".format(*KERAS_LOWEST,
                                                  *KERAS_EXCLUDED)


def check_keras(version=None):
    """Raises `ImportError` if `version` (default: the installed Keras) is
    outside the supported range; does nothing where Keras is not installed
    (the command line answers `--version` without it).

    >>> check_keras("3.15.1")
    >>> check_keras("3.8.0")
    Traceback (most recent call last):
    ...
    ImportError: keras_regkit supports keras>=3.15,<3.16 (the releases it is tested with); found keras 3.8.0. Run: pip install "keras>=3.15,<3.16"
    """  # noqa: E501
    if version is None:
        try:
            version = importlib.metadata.version("keras")
        except importlib.metadata.PackageNotFoundError:
            return
    match = re.match(r"(\d+)\.(\d+)", version)
    release = match and (int(match[1]), int(match[2]))
    if not release or not KERAS_LOWEST <= release < KERAS_EXCLUDED:
        raise ImportError(
            f"keras_regkit supports {KERAS_REQUIREMENT} (the releases it is "
            f"tested with); found keras {version}. "
            f'Run: pip install "{KERAS_REQUIREMENT}"'
        )
