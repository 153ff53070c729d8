"""`import keras_regkit` is enough to load a `.keras` file that uses it.

Keras finds our classes in `.keras` files only once the modules defining
them have run (`register_keras_serializable`). `import keras_regkit` does
not import Keras (so the command line can quiet TensorFlow first): if Keras
is already imported, the serializable modules are imported at once;
otherwise a finder on `sys.meta_path` waits for the `keras` package to
finish loading, imports them then, and removes itself. When one of our own
modules is what imports Keras, they would be imported half-way through
that module (a circular import), so the finder leaves it to the
subpackage, which registers as its last step (`package_loaded`). They add
~0.1 s to
Keras's own import; the lab, which loads plotting and data libraries,
stays lazy.

Examples:

    >>> import keras, keras_regkit
    >>> keras.saving.get_registered_object("keras_regkit>L2") is not None
    True
"""

import importlib
import importlib.abc
import importlib.machinery
import sys

# The subpackages whose classes Keras may meet in a `.keras` file.
SERIALIZABLE = ("keras_regkit.schedules", "keras_regkit.regularizers",
                "keras_regkit.layers", "keras_regkit.training")


def _import_serializable():
    for name in SERIALIZABLE:
        importlib.import_module(name)


class _AfterKeras(importlib.abc.MetaPathFinder):
    """Runs `_import_serializable` right after `keras` is imported."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "keras":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        execute = loader.exec_module

        def exec_module(module):
            execute(module)
            _unhook()
            if not _ours_loading():
                _import_serializable()

        loader.exec_module = exec_module
        return spec


_HOOK = _AfterKeras()


def _unhook():
    if _HOOK in sys.meta_path:
        sys.meta_path.remove(_HOOK)


def _ours_loading(besides=None):
    """Whether one of our modules (other than `besides`) is being imported
    and has not finished."""
    return any(
        name.startswith("keras_regkit.") and name != besides
        and getattr(getattr(module, "__spec__", None), "_initializing", False)
        for name, module in list(sys.modules.items()))


def _keras_loaded():
    return hasattr(sys.modules.get("keras"), "saving")


def package_loaded(name):
    """The last step of subpackage `name`: registers our classes if Keras
    is loaded by now (the finder left it to us when our module imported
    Keras) and no other module of ours is half-imported (the outermost one
    registers when it ends)."""
    if _keras_loaded() and not _ours_loading(besides=name):
        _import_serializable()


def register_with_keras():
    """Registers our classes with Keras now, or as soon as it is imported."""
    if _keras_loaded():
        _import_serializable()
    elif _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)
