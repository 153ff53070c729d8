"""Builds the lab's CNN for a recipe, trains it and measures overfitting.

`run_recipe` trains once; `run_recipe_seeds` trains one recipe under
several seeds and compiles its train step only once: each later seed gets
a freshly built model (its initial weights and random state depend on the
seed only), whose values are copied into the compiled one, with the
optimizer's state and any controller's moves reset. A test checks that a
seed gives the same numbers either way.
"""

import dataclasses
import math
import time

import keras
import numpy as np

from keras_regkit._compat import tf_data
from keras_regkit.lab.built_recipe import BuiltRecipe
from keras_regkit.lab.recipes import validate
from keras_regkit.strengths import StrengthWriter

_ARRAYS = ("history", "test_correct", "test_nll", "test_robust")


@dataclasses.dataclass
class RecipeResult:
    """What one training run of a recipe did: final accuracies and
    cross-entropies (without any weight penalty) on the three splits, the
    curves, the cost, and the per-image test outcome the statistics need.

    `best_epoch` is the epoch with the best validation accuracy;
    `weights_epoch` is the epoch whose weights the final model has (the
    last one, or the one early stopping restored).
    """

    name: str
    description: str
    train_accuracy: float
    val_accuracy: float
    test_accuracy: float
    train_loss: float
    val_loss: float
    test_loss: float
    best_epoch: int
    epochs_run: int
    params: int
    wall_time: float
    jit_compile: bool
    history: dict
    seed: int = 0
    weights_epoch: int = 0
    test_correct: np.ndarray = None
    test_nll: np.ndarray = None
    robustness: float = None
    test_robust: np.ndarray = None

    @property
    def robust_accuracy(self):
        """Test accuracy under the PGD attack of radius `robustness`
        (`--robustness`), or None when not measured."""
        if self.test_robust is None:
            return None
        return float(np.mean(self.test_robust))

    @property
    def gap(self):
        """Generalization gap: train accuracy minus test accuracy."""
        return self.train_accuracy - self.test_accuracy

    @property
    def loss_gap(self):
        """Test cross-entropy minus train cross-entropy.

        More sensitive than the accuracy gap once training accuracy is 1.
        """
        return self.test_loss - self.train_loss

    def summary(self):
        row = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name not in _ARRAYS
        }
        row["gap"] = self.gap
        row["loss_gap"] = self.loss_gap
        row["robust_accuracy"] = self.robust_accuracy
        return row


class _EpochProgress(keras.callbacks.Callback):
    def __init__(self, on_epoch):
        super().__init__()
        self.on_epoch = on_epoch

    def on_epoch_end(self, epoch, logs=None):
        self.on_epoch(epoch + 1, logs or {})


class _Validation(keras.callbacks.Callback):
    """Writes `val_loss` and `val_accuracy` into the epoch's logs, as
    `fit(validation_data=...)` would (cross-entropy plus the weight
    penalty, and accuracy), from `_outcomes`: cheaper than an `evaluate`
    per epoch, which builds a new data iterator each time. First in the
    list, so every callback sees them.
    """

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not len(self.x):
            return
        correct, nll = _outcomes(self.model, self.x, self.y)
        penalty = sum(float(keras.ops.convert_to_numpy(loss))
                      for loss in self.model.losses)
        logs["val_loss"] = float(nll.mean()) + penalty
        logs["val_accuracy"] = float(correct.mean())


def _cross_entropy(logits, y):
    """Per-image correctness and cross-entropy of float64 `logits`."""
    top = logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
    nll = log_norm - logits[np.arange(len(y)), y]
    return logits.argmax(axis=1) == y, nll.astype("float32")


def _training_batches(x, y, batch_size, seed):
    """Shuffled batches, one pass per epoch as `fit(x, y)` makes them,
    repeated: with `steps_per_epoch`, `fit` keeps one iterator for the
    whole run instead of building one per epoch."""
    return tf_data.shuffled_batches(x, y, batch_size, seed)


def _outcomes(model, x, y, chunk=1024):
    """Per-image correctness and cross-entropy (no penalty) of `model` in
    inference mode, one forward pass per chunk of images through the
    model's compiled predict function."""
    if not len(x):
        return np.zeros(0, bool), np.zeros(0, "float32")
    logits = np.concatenate([
        np.asarray(model.predict_on_batch(x[i:i + chunk]), "float64")
        for i in range(0, len(x), chunk)
    ])
    return _cross_entropy(logits, y)


def _weights_epoch(callbacks, epochs_run):
    for callback in callbacks:
        if (isinstance(callback, keras.callbacks.EarlyStopping)
                and callback.restore_best_weights
                and getattr(callback, "best_weights", None) is not None):
            return int(callback.best_epoch) + 1
    return epochs_run


def _adopt(compiled, fresh):
    """Copies `fresh`'s variable values into the same-shaped `compiled`
    model, layer by layer; False (nothing copied) if they differ."""
    pairs = []
    if len(compiled.layers) != len(fresh.layers):
        return False
    for old, new in zip(compiled.layers, fresh.layers, strict=True):
        # `compiled` may carry extra (strength-holder) variables at the end.
        if (old.name != new.name or type(old) is not type(new)
                or len(old.variables) < len(new.variables)):
            return False
        for dst, src in zip(old.variables, new.variables, strict=False):
            if tuple(dst.shape) != tuple(src.shape):
                return False
            pairs.append((dst, src))
    for dst, src in pairs:
        dst.assign(src.value)
    return True


class SeedRunner:
    """Trains one recipe under any number of seeds, compiling once.

    Examples:

        >>> from keras_regkit.lab import load_dataset, load_recipes
        >>> data = load_dataset("digits", train_size=60)
        >>> runner = SeedRunner(load_recipes("baseline")[0], data, epochs=1)
        >>> [r.seed for r in (runner.run(0), runner.run(1))]
        [0, 1]
    """

    def __init__(self, recipe, data, epochs=30, batch_size=32,
                 jit_compile=True, robustness=None):
        self.recipe = validate(recipe)
        self.robustness = robustness
        self.data = data
        self.epochs = epochs
        self.batch_size = batch_size
        self.jit_compile = jit_compile
        self._model = None
        self._optimizer_state = None

    def _model_for(self, built):
        """The compiled model, reset to `built`'s fresh state."""
        fresh = built.model(self.data.input_shape, self.data.num_classes,
                            self.data.vocabulary_size,
                            self.data.sample_rate)
        reusable = (self._model is not None and not built.components["step"]
                    and _adopt(self._model, fresh))
        if not reusable:
            self._model = built.compile(fresh, self.jit_compile)
            self._model.optimizer.build(self._model.trainable_variables)
            self._optimizer_state = [
                keras.ops.convert_to_numpy(v)
                for v in self._model.optimizer.variables
            ]
            return self._model
        for variable, value in zip(self._model.optimizer.variables,
                                   self._optimizer_state, strict=True):
            variable.assign(value)
        StrengthWriter.of(self._model, "the lab").reset()
        return self._model

    def run(self, seed, on_epoch=None, extra_callbacks=()):
        """One training run with `seed`; returns a `RecipeResult`."""
        built = BuiltRecipe.build(self.recipe, seed)
        model = self._model_for(built)
        data = self.data
        callbacks = [_Validation(data.x_val, data.y_val),
                     *built.callbacks(model)]
        callbacks.extend(extra_callbacks)
        if on_epoch is not None:
            callbacks.append(_EpochProgress(on_epoch))
        start = time.perf_counter()
        history = model.fit(
            _training_batches(data.x_train, data.y_train, self.batch_size,
                              seed),
            steps_per_epoch=math.ceil(len(data.x_train) / self.batch_size),
            epochs=self.epochs,
            shuffle=False,
            callbacks=callbacks,
            verbose=0,
        )
        wall_time = time.perf_counter() - start
        measured = {}
        for split in ("train", "val", "test"):
            x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
            measured[split] = _outcomes(model, x, y)
        curves = {
            k: [float(v) for v in vs] for k, vs in history.history.items()
        }
        epochs_run = len(curves.get("loss", []))
        val_curve = curves.get("val_accuracy") or [0.0]
        test_correct, test_nll = measured["test"]
        test_robust = (None if self.robustness is None
                       else _robust_outcomes(model, data, self.robustness))
        return RecipeResult(
            name=self.recipe["name"],
            description=self.recipe.get("description", ""),
            train_accuracy=float(measured["train"][0].mean()),
            val_accuracy=float(measured["val"][0].mean()),
            test_accuracy=float(test_correct.mean()),
            train_loss=float(measured["train"][1].mean()),
            val_loss=float(measured["val"][1].mean()),
            test_loss=float(test_nll.mean()),
            best_epoch=int(np.argmax(val_curve)) + 1,
            epochs_run=epochs_run,
            params=int(model.count_params()),
            wall_time=wall_time,
            jit_compile=bool(model.jit_compile),
            history=curves,
            seed=int(seed),
            weights_epoch=_weights_epoch(callbacks, epochs_run),
            test_correct=test_correct,
            test_nll=test_nll,
            robustness=self.robustness,
            test_robust=test_robust,
        )


def _robust_outcomes(model, data, epsilon):
    """Per test example, whether the model still classifies it correctly
    under a 10-step L-inf PGD attack of radius `epsilon` (inputs clipped to
    the training data's range)."""
    from keras_regkit.training.robustness import evaluate_robustness

    value_range = (float(np.min(data.x_train)), float(np.max(data.x_train)))
    result = evaluate_robustness(
        model, data.x_test, data.y_test, [epsilon], attacks=("pgd",),
        steps=10, value_range=value_range,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return result.per_example[("pgd", float(epsilon))]


def run_recipe(
    recipe,
    data,
    epochs=30,
    batch_size=32,
    seed=0,
    jit_compile=True,
    on_epoch=None,
    extra_callbacks=(),
    robustness=None,
):
    """Trains the lab model under `recipe` on `data`; returns a RecipeResult.

    Args:
        recipe: a recipe dict (see `keras_regkit.lab.recipes`); it is
            validated first.
        data: a `LabData`.
        epochs: int, maximum number of epochs.
        batch_size: int.
        seed: int; the same seed gives the same result.
        jit_compile: bool, compile the train step with XLA where every
            layer supports it (Keras falls back otherwise).
        on_epoch: optional `fn(epoch, logs)` called after each epoch.
        extra_callbacks: more callbacks for `fit`.
        robustness: None, or the radius of a PGD attack on the test
            examples after training (the result's `robust_accuracy`).
    """
    runner = SeedRunner(recipe, data, epochs=epochs, batch_size=batch_size,
                        jit_compile=jit_compile, robustness=robustness)
    return runner.run(seed, on_epoch=on_epoch,
                      extra_callbacks=extra_callbacks)


def run_recipe_seeds(recipe, data, seeds, epochs=30, batch_size=32,
                     jit_compile=True, on_epoch=None, on_run=None,
                     robustness=None):
    """Trains `recipe` once per seed in `seeds` (compiling once).

    `on_epoch(seed, epoch, logs)` is called after each epoch and
    `on_run(result)` after each run. Returns the `RecipeResult`s in seed
    order. `robustness`: as for `run_recipe`.
    """
    runner = SeedRunner(recipe, data, epochs=epochs, batch_size=batch_size,
                        jit_compile=jit_compile, robustness=robustness)
    results = []
    for seed in seeds:
        def epoch_done(epoch, logs, seed=seed):
            if on_epoch is not None:
                on_epoch(seed, epoch, logs)

        results.append(runner.run(seed, on_epoch=epoch_done))
        if on_run is not None:
            on_run(results[-1])
    return results
