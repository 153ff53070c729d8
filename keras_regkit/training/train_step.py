"""The regularizing train step and the models that use it.

`RegularizedModel(inputs, outputs, components=[...])` is a functional Keras
model whose `train_step` runs the components; `regularize(model,
components)` gives any existing model (Sequential, functional, subclassed)
the same step by wrapping it. Everything else (`compile`, `fit` with
`jit_compile=True`, callbacks, `evaluate`, `predict`, `save`,
`load_model`, `tf.distribute`, `keras.distribution`) is Keras's.

The step is written once (`_step.Step`) and runs on TensorFlow (XLA with
`jit_compile=True`), JAX (always `jax.jit`) and torch (eager); each
backend's executor (`_tensorflow`, `_jax`, `_torch`) only takes gradients,
sums across replicas and applies the update. One step, in order:
1. in-step mixing (`StepMixUp` / `StepCutMix`) of inputs and labels;
2. adversarial examples (`AdversarialTraining`), from the input gradient;
3. `RDrop` doubles the batch; forward and backward pass (with R-Drop's
   consistency term in the loss);
4. `SAM`: gradient at `w + e(w)` (a second pass, stateless);
5. sum across replicas (under `tf.distribute`), so what follows sees the
   same gradient as one device;
6. `GradientNoise`, then every clipping component in the order given;
7. the optimizer update, then `DecoupledWeightDecay`; logs `grad_norm`,
   `grad_norm_clipped`, `clipped`, `sam_sharpness`, `adversarial_share`,
   `rdrop_kl` for the components present.
"""

import keras
from keras import ops

from keras_regkit._compat import keras_training
from keras_regkit.layers.augment._mixing import mix_labels
from keras_regkit.layers.augment._mixing import one_hot_labels
from keras_regkit.training._component import StepComponent

_EXECUTORS = {"tensorflow": "_tensorflow", "jax": "_jax", "torch": "_torch"}


def _executor(owner):
    import importlib

    backend = keras.backend.backend()
    if backend not in _EXECUTORS:
        raise RuntimeError(
            f"{owner} runs on the TensorFlow, JAX and torch backends; the "
            f"current backend is {backend!r}."
        )
    return importlib.import_module(
        f"keras_regkit.training.{_EXECUTORS[backend]}")


def _check_components(owner, components):
    if components is None:
        return []
    if isinstance(components, StepComponent):
        components = [components]
    components = [
        keras.saving.deserialize_keras_object(c) if isinstance(c, dict)
        else c for c in components
    ]
    for component in components:
        if not isinstance(component, StepComponent):
            raise TypeError(
                f"{owner} takes train-step components (GradientClipping, "
                "AdaptiveGradientClipping, SAM, AdversarialTraining, "
                "GradientNoise, StepMixUp, StepCutMix, LabelSmoothing, "
                "RDrop, AugMixConsistency, DecoupledWeightDecay, or a "
                "StepComponent). "
                f"Received: "
                f"{component!r}"
            )
    groups = {}
    for component in components:
        if component.exclusive is not None:
            groups.setdefault(component.exclusive, []).append(
                type(component).__name__)
    for group, names in groups.items():
        if len(names) > 1:
            raise ValueError(
                f"{owner} takes at most one {group} component; received "
                f"{names}."
            )
    return components


class _RegularizedStep:
    """The train step shared by `RegularizedModel` and `regularize`."""

    def _set_components(self, components):
        self.step_components = list(components)
        names = []
        for component in components:
            names += [n for n in component.logs if n not in names]
        self._step_trackers = {n: keras.metrics.Mean(name=n) for n in names}

    @property
    def metrics(self):
        return super().metrics + list(
            getattr(self, "_step_trackers", {}).values())

    def get_metrics_result(self):
        # The components' logs describe training steps only: `evaluate`
        # (and validation in `fit`) reports the compiled metrics alone.
        trackers = getattr(self, "_step_trackers", {})
        return {name: value
                for name, value in super().get_metrics_result().items()
                if name not in trackers}

    def _loss(self, x, y, y_pred, sample_weight, mixing):
        """The loss, with labels mixed as `w * loss(y) + (1 - w) *
        loss(y[order])` (one call, so regularization counts once)."""
        if mixing is None:
            return self.compute_loss(x, y, y_pred, sample_weight,
                                     training=True)
        weight, order, *smoothing = mixing
        if smoothing and smoothing[0]:
            return super().compute_loss(
                x, self._soft_targets(y, y_pred, weight, order, smoothing[0]),
                y_pred, sample_weight, training=True)
        both_pred = ops.concatenate([y_pred, y_pred], axis=0)
        both_y = ops.concatenate([y, ops.take(y, order, axis=0)], axis=0)
        # "sum over batch size" divides by 2B: weights carry a factor 2.
        both_w = ops.concatenate([weight, 1.0 - weight], axis=0) * 2.0
        if sample_weight is not None:
            sample_weight = ops.reshape(ops.cast(sample_weight, "float32"),
                                        (-1,))
            both_w = both_w * ops.concatenate(
                [sample_weight, ops.take(sample_weight, order, axis=0)], 0)
        return self.compute_loss(x, both_y, both_pred, both_w, training=True)

    @property
    def _one_hot_targets(self):
        """Whether labels become one-hot targets (label smoothing in the
        step's mixing): then integer labels are one-hot encoded for every
        loss computed, in training and evaluation alike."""
        return any(getattr(c, "label_smoothing", 0)
                   for c in getattr(self, "step_components", ()))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        if self._one_hot_targets and y is not None and y_pred is not None:
            y = self._dense_labels(y, y_pred)
        return super().compute_loss(x, y, y_pred, sample_weight,
                                    training=training)

    def _dense_labels(self, y, y_pred):
        loss = getattr(self, "loss", None)
        name = loss if isinstance(loss, str) else (
            getattr(loss, "name", None) or getattr(loss, "__name__", "")
            or type(loss).__name__)
        if "sparse" in str(name).lower():
            raise ValueError(
                f"Label smoothing in the train step's mixing turns labels "
                f"into soft one-hot targets, which the loss {name!r} cannot "
                "take. Compile with a loss for one-hot targets (e.g. "
                "`categorical_crossentropy`); integer labels are one-hot "
                "encoded by the step."
            )
        classes = y_pred.shape[-1]
        y = ops.convert_to_tensor(y)
        if classes == 1 or len(y.shape) == len(y_pred.shape) and (
                y.shape[-1] == classes):
            return ops.cast(y, y_pred.dtype) if classes > 1 else y
        return one_hot_labels(ops.cast(ops.reshape(y, (-1,)), "int32"),
                              classes)

    def _soft_targets(self, y, y_pred, weight, order, smoothing):
        """Mixed, smoothed one-hot targets (binary: smoothed towards 0.5,
        as Keras's binary cross-entropy)."""
        y = self._dense_labels(y, y_pred)
        if y_pred.shape[-1] == 1:
            y = ops.reshape(ops.cast(y, "float32"), (-1, 1))
            return mix_labels(y * (1.0 - smoothing) + 0.5 * smoothing,
                              weight, order)
        return mix_labels(y, weight, order, label_smoothing=smoothing)

    def _record(self, loss, batch, y_pred, step_logs, finite=None):
        """Updates the loss, the components' and the compiled metrics; a
        step skipped for non-finite gradients (`finite` False, mixed
        precision) leaves the components' logs out of their means."""
        for name, value in step_logs.items():
            value = ops.cast(value, "float32")
            if finite is None:
                self._step_trackers[name].update_state(value)
            else:
                self._step_trackers[name].update_state(
                    ops.where(finite, value, 0.0),
                    sample_weight=ops.cast(finite, "float32"))
        loss_tracker = keras_training.loss_tracker(self)
        if loss_tracker is not None:
            loss_tracker.update_state(
                loss, sample_weight=ops.shape(
                    keras.tree.flatten(batch.x)[0])[0])
        logs = self.compute_metrics(batch.x, batch.y, y_pred,
                                    batch.sample_weight)
        return {**logs, **{name: tracker.result()
                           for name, tracker in self._step_trackers.items()}}

    def make_train_function(self, force=False):
        if keras.backend.backend() == "torch" and self.jit_compile:
            raise ValueError(
                f"{type(self).__name__} runs its train step eagerly on the "
                "torch backend: torch.compile retraces it whenever a "
                "variable changes. Compile with jit_compile=False (or "
                "\"auto\") on torch, or use the JAX or TensorFlow backend "
                "for XLA."
            )
        if self.optimizer is not None:
            for component in self.step_components:
                component.check_optimizer(self.optimizer)
        return super().make_train_function(force)

    def train_step(self, *args):
        if not self.built:
            x = keras.utils.unpack_x_y_sample_weight(args[-1])[0]
            if hasattr(x, "shape"):
                self.build(tuple(x.shape))  # variables exist from the start
        return _executor(type(self).__name__).train_step(self, *args)


@keras.saving.register_keras_serializable(package="keras_regkit")
class RegularizedModel(_RegularizedStep, keras.Model):
    """A functional Keras model with a regularizing train step.

    Use it like `keras.Model(inputs, outputs)` and add `components`; all of
    `compile` / `fit` (with `jit_compile=True`) / `evaluate` / `predict` /
    callbacks / `save` / `load_model` work as usual, on TensorFlow, JAX
    and torch.

    Args:
        inputs, outputs: as for `keras.Model`.
        components: list of train-step components: any of
            `GradientClipping` and `AdaptiveGradientClipping` (applied in
            the order given), and at most one each of `SAM`,
            `AdversarialTraining`, `GradientNoise`, `StepMixUp` /
            `StepCutMix` / `LabelSmoothing`, `RDrop`,
            `DecoupledWeightDecay`.

    Examples:

        >>> from keras_regkit.training import GradientClipping, SAM
        >>> inputs = keras.Input((4,))
        >>> outputs = keras.layers.Dense(2)(inputs)
        >>> model = RegularizedModel(inputs, outputs, components=[
        ...     GradientClipping(global_clipnorm=1.0), SAM(rho=0.05)])
        >>> model.compile("sgd", "mse", jit_compile=True)
        >>> import numpy as np
        >>> history = model.fit(np.ones((8, 4)), np.ones((8, 2)), verbose=0)
        >>> sorted(history.history)
        ['clipped', 'grad_norm', 'grad_norm_clipped', 'loss', 'sam_sharpness']
    """

    def __init__(self, *args, components=None, **kwargs):
        _executor("RegularizedModel")
        components = _check_components("RegularizedModel", components)
        super().__init__(*args, **kwargs)
        self._set_components(components)

    def get_config(self):
        return {
            **super().get_config(),
            "components": [keras.saving.serialize_keras_object(c)
                           for c in self.step_components],
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        components = config.pop("components", [])
        model = super().from_config(config, custom_objects=custom_objects)
        model._set_components(_check_components("RegularizedModel",
                                                components))
        return model


@keras.saving.register_keras_serializable(package="keras_regkit")
class Regularized(_RegularizedStep, keras.Model):
    """Any Keras model wrapped with a regularizing train step.

    Made by `regularize(model, components)`; calls `model` and has its
    weights, so it trains, evaluates, predicts and saves as `model` would.
    """

    def __init__(self, model, components=None, **kwargs):
        _executor("regularize")
        if isinstance(model, dict):
            model = keras.saving.deserialize_keras_object(model)
        if not isinstance(model, keras.Model):
            raise TypeError(
                "regularize() takes a keras.Model. Received: "
                f"model={model!r}"
            )
        components = _check_components("regularize", components)
        kwargs.setdefault("name", f"regularized_{model.name}")
        super().__init__(**kwargs)
        self.model = model
        self._set_components(components)

    def call(self, inputs, training=None):
        return self.model(inputs, training=training)

    def build(self, input_shape):
        # A symbolic call builds every sublayer, also those of subclassed
        # models that report `built` before their first call.
        self.model(keras.KerasTensor(input_shape))
        self.built = True

    def get_config(self):
        return {
            **super().get_config(),
            "model": keras.saving.serialize_keras_object(self.model),
            "components": [keras.saving.serialize_keras_object(c)
                           for c in self.step_components],
        }


def regularize(model, components):
    """Gives `model` a regularizing train step, without rewriting it.

    Args:
        model: any `keras.Model` (Sequential, functional or subclassed).
        components: list of train-step components (see `RegularizedModel`).

    Returns:
        A `keras.Model` that wraps `model` (same weights, same outputs) and
        trains with the components. Compile and fit it instead of `model`.

    Examples:

        >>> from keras_regkit.training import AdaptiveGradientClipping
        >>> base = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        >>> model = regularize(base, [AdaptiveGradientClipping(0.05)])
        >>> model.compile("sgd", "mse")
        >>> import numpy as np
        >>> "clipped" in model.fit(np.ones((4, 3)), np.ones((4, 1)),
        ...                        verbose=0).history
        True
    """
    return Regularized(model, components)
