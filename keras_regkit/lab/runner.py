"""Builds the lab's CNN for a recipe, trains it and measures overfitting."""

import dataclasses
import time

import keras
import numpy as np

from keras_regkit.lab.built_recipe import BuiltRecipe
from keras_regkit.lab.recipes import validate


@dataclasses.dataclass
class RecipeResult:
    """What one recipe did: final accuracies, gap, curves and cost."""

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

    @property
    def gap(self):
        """Generalization gap: train accuracy minus test accuracy."""
        return self.train_accuracy - self.test_accuracy

    @property
    def loss_gap(self):
        """Test loss minus train loss (the penalty, in both, cancels out).

        More sensitive than the accuracy gap once training accuracy is 1.
        """
        return self.test_loss - self.train_loss

    def summary(self):
        row = {
            k: v for k, v in dataclasses.asdict(self).items() if k != "history"
        }
        row["gap"] = self.gap
        row["loss_gap"] = self.loss_gap
        return row


class _EpochProgress(keras.callbacks.Callback):
    def __init__(self, on_epoch):
        super().__init__()
        self.on_epoch = on_epoch

    def on_epoch_end(self, epoch, logs=None):
        self.on_epoch(epoch + 1, logs or {})


def run_recipe(
    recipe,
    data,
    epochs=30,
    batch_size=32,
    seed=0,
    jit_compile=True,
    on_epoch=None,
    extra_callbacks=(),
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
    """
    recipe = validate(recipe)
    built = BuiltRecipe.build(recipe, seed)
    model = built.compile(built.model(data.input_shape, data.num_classes),
                          jit_compile)
    callbacks = built.callbacks()
    callbacks.extend(extra_callbacks)
    if on_epoch is not None:
        callbacks.append(_EpochProgress(on_epoch))
    start = time.perf_counter()
    history = model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=epochs,
        batch_size=batch_size,
        callbacks=callbacks,
        verbose=0,
    )
    wall_time = time.perf_counter() - start

    def evaluate(x, y):
        result = model.evaluate(
            x, y, batch_size=256, verbose=0, return_dict=True
        )
        return float(result["accuracy"]), float(result["loss"])

    train_acc, train_loss = evaluate(data.x_train, data.y_train)
    val_acc, val_loss = evaluate(data.x_val, data.y_val)
    test_acc, test_loss = evaluate(data.x_test, data.y_test)
    curves = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    val_curve = curves.get("val_accuracy", [val_acc])
    return RecipeResult(
        name=recipe["name"],
        description=recipe.get("description", ""),
        train_accuracy=train_acc,
        val_accuracy=val_acc,
        test_accuracy=test_acc,
        train_loss=train_loss,
        val_loss=val_loss,
        test_loss=test_loss,
        best_epoch=int(np.argmax(val_curve)) + 1,
        epochs_run=len(curves.get("loss", [])),
        params=int(model.count_params()),
        wall_time=wall_time,
        jit_compile=bool(model.jit_compile),
        history=curves,
    )
