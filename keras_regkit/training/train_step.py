"""The regularizing train step (TensorFlow) and the models that use it.

`RegularizedModel(inputs, outputs, components=[...])` is a functional Keras
model whose `train_step` runs the components; `regularize(model,
components)` gives any existing model (Sequential, functional, subclassed)
the same step by wrapping it. Everything else (`compile`, `fit` with
`jit_compile=True`, callbacks, `evaluate`, `predict`, `save`,
`load_model`, `tf.distribute`) is Keras's.

One step, in order:
1. in-step mixing (`StepMixUp` / `StepCutMix`) of inputs and labels;
2. adversarial examples (`AdversarialTraining`), from the input gradient;
3. forward and backward pass;
4. `SAM`: gradient at `w + e(w)` (a second pass, without touching the
   variables: the perturbed weights are fed through a `StatelessScope`);
5. sum across replicas (under `tf.distribute`), so what follows sees the
   same gradient as one device;
6. `GradientNoise`, then every clipping component in the order given;
7. the optimizer update; logs `grad_norm`, `grad_norm_clipped`, `clipped`,
   `sam_sharpness`, `adversarial_share` for the components present.
"""

import keras
from keras import ops

from keras_regkit.training._component import StepComponent

_SINGLE_KINDS = ("mix", "adversarial", "sam", "noise")


def _check_backend(owner):
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"{owner} needs the TensorFlow backend (its train step uses "
            "tf.GradientTape); the current backend is "
            f"{keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow."
        )


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
                f"GradientNoise, StepMixUp, StepCutMix). Received: "
                f"{component!r}"
            )
    for kind in _SINGLE_KINDS:
        same = [type(c).__name__ for c in components if c.kind == kind]
        if len(same) > 1:
            raise ValueError(
                f"{owner} takes at most one {kind} component; received "
                f"{same}."
            )
    return components


class _RegularizedStep:
    """The train step shared by `RegularizedModel` and `regularize`."""

    def _set_components(self, components):
        self.step_components = list(components)
        names = []
        if any(c.kind == "clip" for c in components):
            names += ["grad_norm", "grad_norm_clipped", "clipped"]
        if self._component("sam") is not None:
            names.append("sam_sharpness")
        if self._component("adversarial") is not None:
            names.append("adversarial_share")
        self._step_trackers = {n: keras.metrics.Mean(name=n) for n in names}

    def _component(self, kind):
        for component in self.step_components:
            if component.kind == kind:
                return component
        return None

    @property
    def metrics(self):
        return super().metrics + list(
            getattr(self, "_step_trackers", {}).values())

    def _loss(self, x, y, y_pred, sample_weight, mixing):
        """The loss, with labels mixed as `w * loss(y) + (1 - w) *
        loss(y[order])` (one call, so regularization counts once)."""
        if mixing is None:
            return self.compute_loss(x, y, y_pred, sample_weight,
                                     training=True)
        weight, order = mixing
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

    def _stateless_loss(self, x, y, sample_weight, mixing, trainable):
        """The loss with `trainable` in place of the trainable variables;
        layer state updates are discarded."""
        mapping = list(zip(self.trainable_variables, trainable))
        mapping += [(v, v.value) for v in self.non_trainable_variables]
        with keras.StatelessScope(state_mapping=mapping):
            y_pred = self(x, training=True)
            return self._loss(x, y, y_pred, sample_weight, mixing)

    def train_step(self, data):
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if not self.built and hasattr(x, "shape"):
            self.build(tuple(x.shape))  # variables must exist from the start
        trackers = self._step_trackers
        variables = self.trainable_variables
        mixer = self._component("mix")
        adversary = self._component("adversarial")
        if (mixer or adversary) and "int" in str(getattr(x, "dtype", "")):
            x = ops.cast(x, "float32")  # uint8 images can be mixed/perturbed
        mixing = None
        if mixer is not None:
            x, weight, order = mixer.mix(x)
            mixing = (weight, order)

        if adversary is not None:
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = self._stateless_loss(
                    x, y, sample_weight, mixing, [v.value for v in variables])
            x, chosen = adversary.perturb(x, tape.gradient(loss, x))
            trackers["adversarial_share"].update_state(ops.mean(chosen))

        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self._loss(x, y, y_pred, sample_weight, mixing)
        gradients = tape.gradient(loss, variables)

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        sam = self._component("sam")
        if sam is not None:
            weights = [v.value for v in variables]
            ascent = gradients
            if replicas > 1:  # the whole batch's gradient, as on one device
                ascent = tf.distribute.get_replica_context().all_reduce(
                    tf.distribute.ReduceOp.SUM, gradients)
            perturbation = sam.perturbation(ascent, weights)
            shifted = [w + e for w, e in zip(weights, perturbation)]
            with tf.GradientTape() as tape:
                tape.watch(shifted)
                shifted_loss = self._stateless_loss(x, y, sample_weight,
                                                    mixing, shifted)
            gradients = tape.gradient(shifted_loss, shifted)
            trackers["sam_sharpness"].update_state(
                _unscaled(shifted_loss - loss))

        if replicas > 1:
            # Each replica's loss is already divided by the replica count;
            # the sum is the gradient of the whole batch.
            gradients = tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, gradients)
        noise = self._component("noise")
        if noise is not None:
            gradients = noise.apply(gradients, self.optimizer.iterations)
        clippers = [c for c in self.step_components if c.kind == "clip"]
        if clippers:
            # Sums of squares are computed once and carried through the
            # clippers, so logging norms costs no extra pass.
            squares = [ops.sum(ops.square(g)) for g in gradients]
            trackers["grad_norm"].update_state(ops.sqrt(sum(squares)))
            changed = ops.convert_to_tensor(False)
            for clipper in clippers:
                gradients, acted, squares = clipper.apply(
                    gradients, variables, squares)
                changed = changed | acted
            if squares is None:
                squares = [ops.sum(ops.square(g)) for g in gradients]
            trackers["grad_norm_clipped"].update_state(ops.sqrt(sum(squares)))
            trackers["clipped"].update_state(ops.cast(changed, "float32"))
        if replicas > 1:
            # The optimizer sums across replicas again.
            gradients = [g / replicas for g in gradients]
        self.optimizer.apply_gradients(zip(gradients, variables))

        loss_tracker = getattr(self, "_loss_tracker", None)
        if loss_tracker is not None:
            loss_tracker.update_state(
                _unscaled(loss),
                sample_weight=tf.shape(keras.tree.flatten(x)[0])[0])
        return self.compute_metrics(x, y, y_pred, sample_weight)


def _unscaled(loss):
    """The loss before Keras divided it by the number of replicas."""
    import tensorflow as tf

    return loss * tf.distribute.get_strategy().num_replicas_in_sync


@keras.saving.register_keras_serializable(package="keras_regkit")
class RegularizedModel(_RegularizedStep, keras.Model):
    """A functional Keras model with a regularizing train step.

    Use it like `keras.Model(inputs, outputs)` and add `components`; all of
    `compile` / `fit` (with `jit_compile=True`) / `evaluate` / `predict` /
    callbacks / `save` / `load_model` work as usual. TensorFlow backend.

    Args:
        inputs, outputs: as for `keras.Model`.
        components: list of train-step components: any of
            `GradientClipping` and `AdaptiveGradientClipping` (applied in
            the order given), and at most one each of `SAM`,
            `AdversarialTraining`, `GradientNoise`, `StepMixUp` /
            `StepCutMix`.

    Example:

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
        _check_backend("RegularizedModel")
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
        _check_backend("regularize")
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

    Example:

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
