"""Recipes: what the lab changes about the model, as serialized Keras configs.

A recipe is a JSON (or YAML) mapping. Apart from `name` and `description`,
every value is the ordinary serialized form of a Keras or keras_regkit
object (what `keras.saving.serialize_keras_object` writes, or its short
`{"class_name": ..., "config": ...}` form), so there is no second config
language:

- `kernel_regularizer`: a regularizer put on every Conv2D and Dense kernel;
- `augment`: layers applied to the input, inside the model (for text, to
  the token ids; for audio, to the waveform);
- `spectrogram` (audio data): layers applied to the log-mel spectrogram
  `(batch, time, mels)` (`SpecAugment`, `TimeMasking`, ...);
- `block`: layers applied after each convolution block (one copy each);
- `residual`: layers applied to each residual branch before it is added
  back (one copy each; where `DropPath` goes);
- `head`: layers applied before the classifier;
- `callbacks`: callbacks by class name and constructor arguments;
- `step`: train-step components of `keras_regkit.training` (clipping, AGC,
  SAM, adversarial training, gradient noise, in-step MixUp/CutMix), by
  class name and constructor arguments (TensorFlow, JAX or torch backend);
- `optimizer`: an optimizer config (default: Adam, 1e-3);
- `embedding` (text data): the embedding layer's config without its sizes
  (e.g. `EmbeddingDropout` with a `rate`; default: `keras.layers.Embedding`);
- `data`: `"images"`, `"text"` or `"audio"` (or a list of them) for a
  recipe that suits only some kinds of data (default: all).

Example (YAML):

    recipes:
      - name: strong_l2
        kernel_regularizer: {class_name: L2, config: {l2: 0.01}}
      - l2            # a built-in recipe, by name
"""

import copy
import json
import os
import re
from importlib import resources

from keras_regkit.lab.errors import LabError

KEYS = {
    "name",
    "description",
    "kernel_regularizer",
    "augment",
    "block",
    "residual",
    "head",
    "callbacks",
    "optimizer",
    "step",
    "embedding",
    "spectrogram",
    "data",
}
DATA_KINDS = ("images", "text", "audio")
LAYER_KEYS = ("augment", "spectrogram", "block", "residual", "head")
# Callbacks a recipe may use: none of them touches files or the network.
SAFE_CALLBACKS = frozenset({
    "EarlyStopping", "GapController", "ReduceLROnPlateau",
    "RegularizationMonitor", "StrengthScheduler", "SwapEMAWeights",
    "TerminateOnNaN",
})
_FILE_ARGUMENTS = frozenset({"backup_dir", "weights_path"})
# What `keras-regkit lab` runs by default: 4 recipes x 3 seeds fit in
# 2 minutes on 2 CPU cores (L2, early stopping and the rest: --recipes).
DEFAULT_RECIPES = (
    "baseline",
    "dropout",
    "augmentation",
    "combined",
)
# ... and on a text data set (token ids).
TEXT_RECIPES = (
    "baseline",
    "embedding_dropout",
    "token_dropout",
    "rdrop",
    "label_smoothing",
)
# ... and on an audio data set (waveforms).
AUDIO_RECIPES = (
    "baseline",
    "dropout",
    "spec_augment",
    "waveform_augmentation",
)


def builtin_names():
    """Names of the recipes shipped in `keras_regkit/lab/recipes/`."""
    folder = resources.files("keras_regkit.lab") / "recipes"
    return sorted(
        entry.name[: -len(".json")]
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    )


def builtin_descriptions():
    """`{name: (description, data kind or None)}` of the built-in recipes,
    read without validating them (so without loading Keras: `lab list` is
    instant)."""
    folder = resources.files("keras_regkit.lab") / "recipes"
    recipes = {name: json.loads((folder / f"{name}.json").read_text())
               for name in builtin_names()}
    return {name: (recipe["description"], recipe.get("data"))
            for name, recipe in recipes.items()}


def builtin(name):
    """The built-in recipe `name`, as a dict."""
    if name not in builtin_names():
        raise LabError(
            f"unknown recipe {name!r}. Built-in recipes: "
            f"{', '.join(builtin_names())}; or give a .json/.yaml file."
        )
    path = resources.files("keras_regkit.lab") / "recipes" / f"{name}.json"
    return validate(json.loads(path.read_text()), source=f"recipe {name!r}")


def read_file(path, what="recipes", option="--recipes"):
    """The content of a .json or .yaml file; `LabError` naming `what` and
    the command-line `option` if it is missing or unreadable."""
    if not os.path.isfile(path):
        raise LabError(f"{option} {path}: no such file.")
    import yaml

    try:
        with open(path) as f:
            text = f.read()
        if path.endswith((".yaml", ".yml")):
            return yaml.safe_load(text)
        return json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as error:
        first = str(error).strip().splitlines()[0]
        mark = getattr(error, "problem_mark", None)
        if mark is not None:  # YAML: where the problem is
            first = f"{getattr(error, 'problem', None) or first} at line " \
                f"{mark.line + 1}, column {mark.column + 1}"
        elif isinstance(error, json.JSONDecodeError):
            first = f"{error.msg} at line {error.lineno}, column {error.colno}"
        raise LabError(f"cannot read {what} from {path}: {first}") from None


def load(spec=None):
    """Recipes for `--recipes`: built-in names (comma-separated) or a file.

    Args:
        spec: None (the default recipes), `"l2,dropout"`, or a path to a
            `.json` / `.yaml` file holding a list of recipes (or a mapping
            with key `recipes`); a list entry may be a built-in name.

    Returns:
        A list of validated recipe dicts with unique names.

    Raises:
        LabError: unknown name, unreadable file or malformed recipe.
    """
    if spec is None:
        entries = list(DEFAULT_RECIPES)
        source = "default recipes"
    elif spec.endswith((".json", ".yaml", ".yml")):
        entries = read_file(spec)
        source = spec
        if isinstance(entries, dict) and "recipes" in entries:
            entries = entries["recipes"]
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list) or not entries:
            raise LabError(
                f"{spec}: expected a non-empty list of recipes (or a mapping "
                "with key 'recipes')."
            )
    else:
        entries = [name.strip() for name in spec.split(",") if name.strip()]
        source = "--recipes"
        if not entries:
            raise LabError("--recipes: give at least one recipe name.")
    recipes = []
    for entry in entries:
        if isinstance(entry, str):
            recipes.append(builtin(entry))
        else:
            recipes.append(validate(entry, source=source))
    names = [r["name"] for r in recipes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise LabError(f"{source}: recipe names must be unique; {duplicates} "
                       "appear more than once.")
    return recipes


def validate(recipe, source="recipe"):
    """Checks a recipe's shape and that every config builds; returns a copy."""
    if not isinstance(recipe, dict):
        raise LabError(f"{source}: a recipe must be a mapping; got {recipe!r}.")
    name = recipe.get("name")
    if not isinstance(name, str) or not name.strip():
        raise LabError(f"{source}: every recipe needs a non-empty 'name'.")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise LabError(
            f"{source}: recipe name {name!r} may use only letters, digits, "
            "'_', '-' and '.' (it names report files)."
        )
    where = f"recipe {name!r}"
    _check_size(recipe, where)
    unknown = sorted(set(recipe) - KEYS)
    if unknown:
        raise LabError(
            f"{where}: unknown key(s) {unknown}; allowed: {sorted(KEYS)}."
        )
    recipe = copy.deepcopy(recipe)
    description = recipe.get("description")
    if description is None:
        recipe["description"] = ""
    elif not isinstance(description, str) or len(description) > 2000:
        raise LabError(
            f"{where}: 'description' must be text of at most 2000 "
            f"characters; got {type(description).__name__} "
            f"{_shorten(description)}."
        )
    for key in LAYER_KEYS + ("callbacks", "step"):
        value = recipe.setdefault(key, [])
        if not isinstance(value, list):
            raise LabError(f"{where}: '{key}' must be a list; got {value!r}.")
    data = recipe.get("data")
    if data is not None and not (
            data in DATA_KINDS or isinstance(data, list) and data
            and all(kind in DATA_KINDS for kind in data)):
        raise LabError(f"{where}: 'data' must be 'images', 'text' or "
                       f"'audio', or a list of them; got {_shorten(data)}.")
    for key, kind in (("embedding", "text"), ("spectrogram", "audio")):
        if recipe.get(key):
            recipe["data"] = recipe.get("data") or kind
            if recipe["data"] != kind:
                raise LabError(f"{where}: '{key}' is for {kind} data; the "
                               f"recipe says data: {recipe['data']}.")
    # Build everything once now, so a bad config fails before any training.
    build_components(recipe)
    return recipe


_MAX_NODES = 20_000


def _check_size(recipe, where):
    """Refuses a recipe too large to be a config (a YAML alias bomb expands
    a few hundred bytes into billions of values when written out)."""
    stack, seen = [recipe], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > _MAX_NODES:
            raise LabError(
                f"{where}: more than {_MAX_NODES} values; a recipe is a "
                "small config (YAML aliases that multiply it are refused)."
            )
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
        elif isinstance(node, str) and len(node) > 100_000:
            raise LabError(f"{where}: a text value longer than 100,000 "
                           "characters.")


def _shorten(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe_error(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def layer_from_config(config, where, name=None):
    """A layer from its serialized config; short class names mean ours.

    `name` (optional) replaces the layer's name, so the lab's models name
    their layers the same way in every recipe and run.
    """
    import keras

    if not isinstance(config, dict) or "class_name" not in config:
        raise LabError(
            f"{where}: a layer must be a serialized Keras layer "
            f"({{'class_name': ..., 'config': {{...}}}}); got {config!r}."
        )
    import keras_regkit.layers  # noqa: F401  (registers our layers)

    # A short config ({"class_name": "Dropout", ...}) names one of our layers
    # (drop-ins first) or else a Keras layer.
    class_name = str(config["class_name"])
    reads = _file_reading_argument(config.get("config"))
    if reads:
        raise LabError(
            f"{where}: {class_name} argument {reads!r} names a file; the lab "
            "reads no files from a recipe (give a vocabulary as a list)."
        )
    from keras_regkit import _registry

    short = _registry.resolve(class_name, keras.layers.Layer, keras.layers)
    custom = {class_name: short} if short is not None else {}
    config = copy.deepcopy(config)
    if name is not None and isinstance(config.get("config", {}), dict):
        config.setdefault("config", {})["name"] = name
    try:
        return keras.layers.deserialize(config, custom_objects=custom)
    except Exception as error:
        raise LabError(f"{where}: {_describe_error(error)}") from None


def _file_reading_argument(config):
    """The name of a layer argument that would make Keras read a file (a
    lookup layer's `vocabulary` given as a path), or None."""
    if not isinstance(config, dict):
        return None
    for key in ("vocabulary", "idf_weights"):
        if isinstance(config.get(key), str):
            return key
    return None


def _callback(config, where):
    import keras

    from keras_regkit import _registry
    from keras_regkit import callbacks as regkit_callbacks

    if not isinstance(config, dict) or "class_name" not in config:
        raise LabError(
            f"{where}: a callback must be {{'class_name': ..., 'config': "
            f"{{...}}}}; got {config!r}."
        )
    class_name = config["class_name"]
    cls = _registry.resolve(class_name, keras.callbacks.Callback,
                            regkit_callbacks, keras.callbacks)
    if cls is None:
        raise LabError(
            f"{where}: unknown callback {class_name!r}; use a class from "
            "keras_regkit.callbacks or keras.callbacks."
        )
    arguments = config.get("config", {})
    if class_name not in SAFE_CALLBACKS:
        raise LabError(
            f"{where}: callback {class_name!r} is not allowed in a recipe: "
            "a recipe is data, and the lab reads and writes nothing but its "
            "data set and its report (no files, folders or network from a "
            f"recipe). Allowed: {', '.join(sorted(SAFE_CALLBACKS))}."
        )
    if isinstance(arguments, dict):
        paths = sorted(set(arguments) & _FILE_ARGUMENTS)
        if paths:
            raise LabError(
                f"{where}: {class_name} argument(s) {paths} would write "
                "files; the lab writes only its report, so a recipe may not "
                "give them."
            )
    try:
        return cls(**arguments)
    except Exception as error:
        raise LabError(f"{where}: {_describe_error(error)}") from None


def _step_component(config, where):
    import keras

    if not isinstance(config, dict) or "class_name" not in config:
        raise LabError(
            f"{where}: a step component must be {{'class_name': ..., "
            f"'config': {{...}}}}; got {config!r}."
        )
    from keras_regkit import _registry
    from keras_regkit.training._component import StepComponent

    name = str(config["class_name"])
    cls = _registry.resolve(name, StepComponent)
    if cls is None:
        raise LabError(
            f"{where}: unknown step component {name!r}; use one of "
            f"{', '.join(_registry.names_of(StepComponent))}."
        )
    try:
        if set(config) <= {"class_name", "config"}:
            # The short form: construct directly, so a bad argument gives
            # the component's own message.
            return cls(**copy.deepcopy(config.get("config", {})))
        return keras.saving.deserialize_keras_object(
            copy.deepcopy(config), custom_objects={name: cls})
    except Exception as error:
        raise LabError(f"{where}: {_describe_error(error)}") from None


def _snake(config):
    """`RandomTranslation` -> `random_translation`, for stable layer names."""
    name = str(config.get("class_name", "layer")).rpartition(">")[2]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def build_components(recipe):
    """Fresh objects for one training run of `recipe`.

    Returns:
        dict with `kernel_regularizer` (a factory: each call gives a new
        regularizer), `augment`, `head` (lists of layers), `block` and
        `residual` (factories giving a fresh list of layers per stage),
        every layer named after its slot, position and class (the same
        names in every run),
        `callbacks`, `optimizer`, `step` (train-step components) and
        `embedding` (a factory: `make(input_dim, output_dim)`).
    """
    import keras

    from keras_regkit import regularizers

    where = f"recipe {recipe['name']!r}"
    reg_config = recipe.get("kernel_regularizer")

    def make_regularizer():
        if reg_config is None:
            return None
        try:
            return regularizers.get(copy.deepcopy(reg_config))
        except Exception as error:
            raise LabError(
                f"{where}: kernel_regularizer: {_describe_error(error)}"
            ) from None

    make_regularizer()  # validate now

    def layers_of(key, prefix=None):
        prefix = prefix or key
        return [
            layer_from_config(config, f"{where}: {key}",
                              name=f"{prefix}_{index}_{_snake(config)}")
            for index, config in enumerate(recipe[key])
        ]

    def make_block(stage=1):
        return layers_of("block", f"block{stage}")

    def make_residual(stage=1):
        return layers_of("residual", f"residual{stage}")

    optimizer_config = recipe.get("optimizer")
    if optimizer_config is None:
        optimizer = keras.optimizers.Adam(1e-3)
    else:
        try:
            optimizer = keras.optimizers.deserialize(
                copy.deepcopy(optimizer_config)
            )
        except Exception as error:
            raise LabError(
                f"{where}: optimizer: {_describe_error(error)}"
            ) from None
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise LabError(
                f"{where}: optimizer: {_shorten(optimizer_config)} is not an "
                "optimizer config (e.g. {class_name: Adam, config: "
                "{learning_rate: 0.001}})."
            )
    embedding_config = recipe.get("embedding")

    def make_embedding(input_dim, output_dim):
        if embedding_config is None:
            return keras.layers.Embedding(input_dim, output_dim,
                                          name="embedding")
        config = copy.deepcopy(embedding_config)
        if isinstance(config, dict) and isinstance(config.get("config"),
                                                   dict):
            config["config"].update(input_dim=input_dim,
                                    output_dim=output_dim)
        layer = layer_from_config(config, f"{where}: embedding",
                                  name="embedding")
        if not isinstance(layer, keras.layers.Embedding):
            raise LabError(
                f"{where}: embedding: {type(layer).__name__} is not an "
                "embedding layer (Embedding, EmbeddingDropout)."
            )
        return layer

    if embedding_config is not None:
        # Validate now. Only then: a layer's unseeded initializer draws
        # from Python's random state, which would shift every later
        # weight of the recipes that have no embedding.
        make_embedding(2, 2)
    return {
        "kernel_regularizer": make_regularizer,
        "embedding": make_embedding,
        "augment": layers_of("augment"),
        "spectrogram": layers_of("spectrogram"),
        "block": make_block,
        "residual": make_residual,
        "head": layers_of("head"),
        "callbacks": [
            _callback(c, f"{where}: callbacks") for c in recipe["callbacks"]
        ],
        "optimizer": optimizer,
        "step": [_step_component(c, f"{where}: step")
                 for c in recipe.get("step", [])],
    }


def check_data_kind(recipes, data):
    """Refuses, before any training, a recipe made for the other kind of
    data (an image augmentation on token ids)."""
    kind = data.kind
    wrong = {r["name"]: describe_kinds(r["data"]) for r in recipes
             if not suits(r.get("data"), kind)}
    if wrong:
        suited = [name for name in builtin_names()
                  if suits(builtin(name).get("data"), kind)]
        listed = ", ".join(f"{name} ({other})"
                           for name, other in wrong.items())
        raise LabError(
            f"recipe(s) for other data: {listed}; {data.name} is {kind}. "
            f"Built-in recipes for {kind}: {', '.join(suited)}."
        )


def suits(recipe_data, kind):
    """Whether a recipe whose `data` is `recipe_data` runs on `kind`."""
    return recipe_data is None or kind == recipe_data or (
        isinstance(recipe_data, list) and kind in recipe_data)


def describe_kinds(recipe_data):
    """A recipe's `data` as text: `"any"`, `"images"`, `"images, audio"`."""
    if recipe_data is None:
        return "any"
    return ", ".join(recipe_data) if isinstance(recipe_data, list) else (
        recipe_data)


def defaults_for(data):
    """The built-in recipes `lab` runs on `data` without `--recipes`."""
    return {"images": DEFAULT_RECIPES, "text": TEXT_RECIPES,
            "audio": AUDIO_RECIPES}[data.kind]
