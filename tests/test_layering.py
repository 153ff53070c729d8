"""The package's structure, as `ARCHITECTURE.md` draws it: one boundary for
backend code and Keras internals (`keras_regkit/_compat/`), and imports that
run downward from floor to floor.

Both tests read the source (`ast`), so they see imports made inside
functions too. Pure Python: one backend.
"""

import ast
import importlib
import pathlib

import keras
import numpy as np
import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_regkit"

#: Where backend imports and Keras's private names may appear: the compat
#: package and the train step's per-backend executors.
BOUNDARY = ("_compat/",)
EXECUTORS = ("training/_tensorflow.py", "training/_jax.py",
             "training/_torch.py")
BACKEND_MODULES = ("tensorflow", "jax", "jaxlib", "torch")

#: The floors, bottom first: a unit (a top-level module or subpackage of
#: keras_regkit) imports units on lower floors and itself only, never a
#: sibling on its own floor. The package root (`__version__`, lazy
#: subpackages) stands outside.
FLOORS = (
    ("_compat", "_checks", "_lock", "_versions", "_registration",
     "_registry"),
    ("_files", "_fusion", "_matmul", "schedules"),
    ("_random", "strengths"),
    ("layers", "regularizers"),
    ("training",),
    ("callbacks",),
    ("lab",),
    ("__main__",),
)


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        parts = relative[:-3].split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(["keras_regkit", *parts])
        yield relative, name, ast.parse(path.read_text(), relative)


def _imported(tree, name, is_package):
    """(line, module) for every import in `tree`, relative ones resolved."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module
                                          else []))
            else:
                module = node.module
            yield node.lineno, module
            for alias in node.names:  # `from keras_regkit import layers`
                yield node.lineno, f"{module}.{alias.name}"


def _keras_private_names():
    """Private attribute names of the Keras objects we meet: the classes'
    and those their instances set (a built, trained model, its layers and
    optimizer, variables, seed generators, callbacks, regularizers)."""
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    model.fit(np.ones((2, 2)), np.ones((2, 1)), verbose=0)
    sequential = keras.Sequential([keras.Input((2,)),
                                   keras.layers.Dropout(0.1)])
    samples = [model, sequential, model.layers[1], model.optimizer,
               model.layers[1].kernel, keras.random.SeedGenerator(1),
               keras.callbacks.Callback(), keras.callbacks.EarlyStopping(),
               keras.callbacks.BackupAndRestore("unused"),
               keras.callbacks.History(), keras.regularizers.L2(),
               keras.metrics.Mean(), keras.layers.Layer()]
    by_class = {}
    for sample in samples:
        names = {n for n in (*dir(type(sample)), *vars(sample))
                 if n.startswith("_") and not n.endswith("__")}
        by_class.setdefault(type(sample), set()).update(names)
    return by_class


def _keras_bases(cls):
    return [k for k in cls.__mro__ if k.__module__.split(".")[0] == "keras"]


def _private_of(bases, by_class):
    """Private names Keras defines on `bases` (their classes, and the
    instances of the nearest sampled class)."""
    names = set()
    for base in bases:
        names |= {n for n in vars(base)
                  if n.startswith("_") and not n.endswith("__")}
        names |= by_class.get(base, set())
    return names


def _private_uses(relative, name, tree, by_class):
    everything = set().union(*by_class.values())
    module = importlib.import_module(name)
    found = []

    def visit(node, owned):
        """`owned`: private names of the Keras bases of the class `node`
        is in (None outside a class of ours with Keras bases)."""
        if isinstance(node, ast.ClassDef):
            cls = getattr(module, node.name, None)
            bases = _keras_bases(cls) if isinstance(cls, type) else []
            owned = _private_of(bases, by_class) if bases else None
            for item in node.body:
                if (owned and isinstance(item, ast.FunctionDef)
                        and item.name in owned):
                    found.append(f"{relative}:{item.lineno} overrides "
                                 f"Keras's {item.name}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            on_self = (isinstance(node.value, ast.Name)
                       and node.value.id in ("self", "cls")) or (
                isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name)
                and node.value.func.id == "super")
            private = (owned or set()) if on_self else everything
            if node.attr in private and not node.attr.endswith("__"):
                found.append(f"{relative}:{node.lineno} "
                             f"{ast.unparse(node)}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "hasattr", "setattr")
              and len(node.args) > 1
              and isinstance(node.args[1], ast.Constant)
              and node.args[1].value in everything):
            found.append(f"{relative}:{node.lineno} {ast.unparse(node)}")
        for child in ast.iter_child_nodes(node):
            visit(child, owned)

    visit(tree, None)
    return found


def test_backend_imports_and_keras_internals_stay_behind_the_boundary():
    by_class = _keras_private_names()
    outside = []
    for relative, name, tree in _modules():
        if relative.startswith(BOUNDARY) or relative in EXECUTORS:
            continue
        for line, module in _imported(tree, name,
                                      relative.endswith("__init__.py")):
            if (module.split(".")[0] in BACKEND_MODULES
                    or module.startswith("keras.src")):
                outside.append(f"{relative}:{line} imports {module}")
        outside.extend(_private_uses(relative, name, tree, by_class))
    assert not outside, (
        "Backend imports and Keras's private names belong in "
        "keras_regkit/_compat/ (one module per concern, saying what Keras "
        "does and since which version):\n" + "\n".join(outside))


def test_the_boundary_depends_on_nothing_of_ours_but_itself():
    for relative, name, tree in _modules():
        if not relative.startswith(BOUNDARY):
            continue
        for line, module in _imported(tree, name,
                                      relative.endswith("__init__.py")):
            assert not module.startswith("keras_regkit.") or (
                module.startswith("keras_regkit._compat")), (
                f"{relative}:{line} imports {module}")


def _unit(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "keras_regkit" else None


def test_imports_run_downward_floor_by_floor():
    floor_of = {unit: index for index, floor in enumerate(FLOORS)
                for unit in floor}
    units = {_unit(name) for _, name, _ in _modules()} - {None}
    assert units == set(floor_of), (
        "a unit of the package missing from FLOORS (and ARCHITECTURE.md), "
        f"or listed but gone: {sorted(units ^ set(floor_of))}")
    upward = []
    for relative, name, tree in _modules():
        unit = _unit(name)
        if unit is None:  # the package root
            continue
        for line, module in _imported(tree, name,
                                      relative.endswith("__init__.py")):
            target = _unit(module)
            if target is None or target == unit:
                continue
            if target == "__version__":
                continue  # the root's version string
            if target not in floor_of:
                continue  # `from keras_regkit.x import y`: y seen as x.y
            if floor_of[target] >= floor_of[unit]:
                upward.append(f"{relative}:{line} ({unit}, floor "
                              f"{floor_of[unit]}) imports {module} "
                              f"(floor {floor_of[target]})")
    assert not upward, "Imports must run downward:\n" + "\n".join(upward)


@pytest.mark.parametrize("source, expected", [
    ("import tensorflow as tf\n", "imports tensorflow"),
    ("def f(m):\n    return m._flatten_layers()\n", "m._flatten_layers"),
])
def test_the_boundary_check_sees_what_it_forbids(source, expected, tmp_path,
                                                  monkeypatch):
    # The checks above, on a module that breaks the rule: they must object.
    (tmp_path / "regkit_probe.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    tree = ast.parse(source)
    found = [f"x:{line} imports {module}"
             for line, module in _imported(tree, "regkit_probe", False)
             if module.split(".")[0] in BACKEND_MODULES]
    found += _private_uses("x", "regkit_probe", tree, _keras_private_names())
    assert any(expected in item for item in found), found


def test_architecture_page_draws_these_floors_and_the_boundary():
    page = (PACKAGE.parent / "ARCHITECTURE.md").read_text()
    drawing = page.split("## The floors of the package")[1].split(
        "```text")[1].split("```")[0]
    drawn = {}
    floor = None
    for line in drawing.splitlines():
        if not line.strip() or len(line) - len(line.lstrip()) > 3:
            continue  # a blank line, or a description's second line
        words = line.split()
        if words[0].isdigit():
            floor = int(words.pop(0))
        names = [words.pop(0)]  # "_files, _lock": two units on one line
        while names[-1].endswith(","):
            names.append(words.pop(0))
        for name in names:
            drawn[name.rstrip(",").rstrip("/")] = floor
    expected = {unit: index for index, units in enumerate(FLOORS)
                for unit in units}
    assert drawn == expected
    compat = {path.stem for path in (PACKAGE / "_compat").glob("*.py")
              if path.stem != "__init__"}
    table = page.split("## The boundary")[1].split("## ")[0]
    listed = {line.split("`")[1] for line in table.splitlines()
              if line.startswith("| `")}
    assert listed == compat
