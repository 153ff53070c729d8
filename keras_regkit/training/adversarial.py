"""Adversarial training: FGSM's one-step and PGD's multi-step adversaries.

`fgsm` and `pgd` are the attacks as pure functions; `AdversarialTraining`
(FGSM, on a share of each batch) and `PGD` (Madry et al.) are the
train-step components that train on their adversarial examples, `TRADES`
(Zhang et al.) the one that trains on the clean examples and pulls the
adversarial predictions towards the clean ones.
"""

import math

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit import schedules as schedules_lib
from keras_regkit.strengths import NON_NEGATIVE
from keras_regkit.strengths import PROBABILITY
from keras_regkit.strengths import Bounds
from keras_regkit.strengths import Scheduled
from keras_regkit.strengths import add_strength
from keras_regkit.training._component import StepComponent
from keras_regkit.training.rdrop import log_probabilities


def fgsm(inputs, input_gradient, epsilon, value_range=None):
    """`inputs + epsilon * sign(input_gradient)`, clipped to `value_range`.

    Examples:

        >>> x = keras.ops.convert_to_tensor([0.5, 0.5])
        >>> g = keras.ops.convert_to_tensor([2.0, -0.1])
        >>> [round(float(v), 3) for v in fgsm(x, g, 0.1)]
        [0.6, 0.4]
    """
    epsilon = checks.scalar("fgsm", "epsilon", epsilon, lambda v: v >= 0,
                            "a float >= 0 or a scalar tensor")
    if value_range is not None:
        value_range = checks.value_range("fgsm", value_range)
    adversarial = ops.convert_to_tensor(inputs) + epsilon * ops.sign(
        input_gradient)
    if value_range is not None:
        adversarial = ops.clip(adversarial, *value_range)
    return adversarial


@keras.saving.register_keras_serializable(package="keras_regkit")
class AdversarialTraining(StepComponent):
    """Trains on FGSM adversarial examples for a share of each batch.

    Each step takes the gradient of the loss with respect to the inputs
    (one extra forward and backward pass, its layer state discarded),
    replaces a random `share` of the batch by `x + epsilon * sign(grad)`,
    and trains on the result. The step logs `adversarial_share`.

    Args:
        epsilon: float >= 0 or Schedule, the perturbation size in input
            units. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        share: float in [0, 1] or Schedule, the fraction of examples
            replaced. Defaults to `0.5`.
        value_range: `(low, high)` the perturbed inputs are clipped to, or
            None. Defaults to `None`.
        seed: int or None. Defaults to `None`.

    Examples:

        >>> AdversarialTraining(epsilon=0.03, value_range=(0, 1)).share
        0.5

    References:
        Goodfellow et al., Explaining and Harnessing Adversarial Examples,
        2015. https://arxiv.org/abs/1412.6572
    """

    logs = ("adversarial_share",)
    order = 1  # after mixing: the adversary attacks the mixed batch
    exclusive = "adversarial"
    float_inputs = True

    epsilon = Scheduled(NON_NEGATIVE)
    share = Scheduled(PROBABILITY)

    def __init__(self, epsilon, share=0.5, value_range=None, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.share = share
        if value_range is not None:
            value_range = tuple(float(v) for v in checks.value_range(
                "AdversarialTraining", value_range,
                "None or (low, high) with low < high"))
        self.value_range = value_range

    def perturb(self, inputs, input_gradient):
        """Returns the mixed batch and the 0/1 mask of perturbed rows."""
        epsilon = self.strength("epsilon").value
        adversarial = fgsm(inputs, input_gradient, epsilon,
                           self.value_range)
        batch = ops.shape(inputs)[0]
        chosen = _random.uniform((batch,), self.seed_generator) < (
            self.strength("share").value)
        mask = ops.reshape(chosen, (-1,) + (1,) * (len(inputs.shape) - 1))
        return ops.where(mask, adversarial, inputs), ops.cast(chosen,
                                                              "float32")

    def transform_batch(self, batch, step):
        _, gradient = step.input_gradient(batch)
        x, chosen = self.perturb(batch.x, gradient)
        step.log("adversarial_share", ops.mean(chosen))
        return batch._replace(x=x)

    def get_config(self):
        return {**super().get_config(),
                "value_range": (None if self.value_range is None
                                else list(self.value_range))}


_NORMS = ("inf", "2")
# The steps are unrolled in the compiled train step.
_MAX_STEPS = 100


def _per_example(values, reduce):
    """`reduce` over every axis but the batch axis, shaped to broadcast."""
    axes = tuple(range(1, len(values.shape)))
    return reduce(values, axis=axes, keepdims=True)


def _non_negative(owner, name, value):
    return checks.scalar(owner, name, value, lambda v: v >= 0,
                         "a float >= 0 or a scalar tensor")


def _l2(values):
    return ops.sqrt(_per_example(ops.square(values), ops.sum))


def project(inputs, adversarial, epsilon, norm="inf"):
    """`adversarial` moved to the nearest point of the `norm` ball of
    radius `epsilon` around `inputs` (per example).

    Examples:

        >>> x = keras.ops.zeros((1, 2))
        >>> keras.ops.convert_to_numpy(project(x, x + 3.0, 1.0)).tolist()
        [[1.0, 1.0]]
        >>> far = keras.ops.convert_to_tensor([[3.0, 4.0]])
        >>> y = project(x, far, 1.0, "2")
        >>> [[round(float(v), 3) for v in row] for row in y]
        [[0.6, 0.8]]
    """
    norm = checks.choice("project", "norm", norm, _NORMS)
    epsilon = _non_negative("project", "epsilon", epsilon)
    delta = adversarial - inputs
    if norm == "inf":
        delta = ops.clip(delta, -epsilon, epsilon)
    else:
        size = _l2(delta)
        delta = delta * ops.minimum(1.0, epsilon / ops.maximum(size, 1e-12))
    return inputs + delta


def pgd(inputs, gradient, epsilon, steps, step_size, norm="inf",
        start=None, value_range=None, active=None):
    """The PGD attack: `steps` ascent steps on a loss inside a norm ball.

    From `start` (default `inputs`), each step moves by `step_size` along
    the sign of the gradient (`norm="inf"`) or along the gradient scaled to
    unit L2 norm per example (`norm="2"`), then projects onto the ball of
    radius `epsilon` around `inputs` and clips to `value_range`.

    Args:
        inputs: the clean batch `(batch, ...)`.
        gradient: function of a batch giving `d loss / d batch`.
        epsilon: float or scalar tensor >= 0, the ball's radius.
        steps: int >= 0, the number of ascent steps.
        step_size: float or scalar tensor >= 0.
        norm: `"inf"` or `"2"`. Defaults to `"inf"`.
        start: the first iterate, or None for `inputs`. Defaults to `None`.
        value_range: `(low, high)` the iterates are clipped to, or None.
            Defaults to `None`.
        active: None, or a scalar tensor: only the first `active` of the
            `steps` (unrolled) steps move the iterate (a scheduled step
            count). Defaults to `None`.

    Returns:
        The adversarial batch.

    Examples:

        >>> w = keras.ops.convert_to_tensor([[1.0, -2.0]])
        >>> x = keras.ops.zeros((1, 2))
        >>> # Ascent on the loss w . x: the corner along sign(w).
        >>> out = pgd(x, lambda v: w, 0.1, steps=3, step_size=0.05)
        >>> [[round(float(v), 3) for v in row] for row in out]
        [[0.1, -0.1]]
    """
    owner = "pgd"
    norm = checks.choice(owner, "norm", norm, _NORMS)
    steps = checks.integer(owner, "steps", steps, maximum=_MAX_STEPS)
    epsilon = _non_negative(owner, "epsilon", epsilon)
    step_size = _non_negative(owner, "step_size", step_size)
    if value_range is not None:
        value_range = checks.value_range(owner, value_range)
    inputs = ops.convert_to_tensor(inputs)
    adversarial = inputs if start is None else start
    for index in range(steps):
        direction = gradient(adversarial)
        if norm == "inf":
            direction = ops.sign(direction)
        else:
            direction = direction / ops.maximum(_l2(direction), 1e-12)
        moved = project(inputs, adversarial + step_size * direction,
                        epsilon, norm)
        if value_range is not None:
            moved = ops.clip(moved, *value_range)
        adversarial = moved if active is None else ops.where(
            ops.less(float(index), active), moved, adversarial)
    return adversarial


class _StepCount:
    """An attack's step count: an int, or a `Schedule` of it (a strength
    named `steps`, which `StrengthScheduler` moves). A scheduled count is
    unrolled to its largest value and the steps beyond the current one are
    masked, so a new count never retraces."""

    def __init__(self, owner, steps):
        name = type(owner).__name__
        if isinstance(steps, bool) or not (
                isinstance(steps, int) or isinstance(
                    steps, (schedules_lib.Schedule, dict))):
            raise checks.invalid(name, "steps", steps,
                                 f"an int in [0, {_MAX_STEPS}] or a Schedule",
                                 error=TypeError)
        if isinstance(steps, int):
            self.given = checks.integer(name, "steps", steps,
                                        maximum=_MAX_STEPS)
            self.unrolled, self.strength = self.given, None
            return
        self.strength = add_strength(owner, "steps", steps,
                                     Bounds(0.0, float(_MAX_STEPS)))
        schedule = self.strength.schedule
        self.given = schedule
        self.unrolled = math.ceil(max(schedule(t)
                                      for t in schedule.landmarks()))

    @property
    def active(self):
        """The current count as a tensor, or None for a fixed int."""
        return None if self.strength is None else self.strength.value

    def divisor(self):
        """The count the default step size divides by (at least 1)."""
        if self.strength is None:
            return max(self.given, 1)
        return ops.maximum(self.strength.value, 1.0)

    def config(self):
        if self.strength is None:
            return self.given
        return schedules_lib.serialize(self.given)


class _MultiStepAdversary(StepComponent):
    """What PGD and TRADES share: the ball (`epsilon`, `norm`), the steps
    (count and size) and the data range the attacked inputs stay in."""

    order = 1  # after mixing: the adversary attacks the mixed batch
    exclusive = "adversarial"
    float_inputs = True

    epsilon = Scheduled(NON_NEGATIVE)
    step_size = Scheduled(NON_NEGATIVE, optional=True)

    def _init_attack(self, epsilon, steps, step_size, norm, value_range):
        owner = type(self).__name__
        self.epsilon = epsilon
        self._step_count = _StepCount(self, steps)
        self.step_size = step_size
        self.norm = checks.choice(owner, "norm", norm, _NORMS)
        if value_range is not None:
            value_range = tuple(float(v) for v in checks.value_range(
                owner, value_range, "None or (low, high) with low < high"))
        self.value_range = value_range

    @property
    def steps(self):
        """The step count as given: an int, or a `Schedule`."""
        return self._step_count.given

    def _step_size(self):
        """The given step size, or `2.5 * epsilon / steps` (Madry et
        al.'s choice)."""
        held = self.strength("step_size")
        if held is not None:
            return held.value
        return 2.5 * self.strength("epsilon").value / self._step_count.divisor()

    def _clipped(self, inputs):
        if self.value_range is None:
            return inputs
        return ops.clip(inputs, *self.value_range)

    def _pgd(self, inputs, gradient, start):
        return pgd(inputs, gradient, self.strength("epsilon").value,
                   self._step_count.unrolled, self._step_size(), self.norm,
                   start, self.value_range, self._step_count.active)

    def get_config(self):
        return {**super().get_config(), "steps": self._step_count.config(),
                "norm": self.norm,
                "value_range": (None if self.value_range is None
                                else list(self.value_range))}


@keras.saving.register_keras_serializable(package="keras_regkit")
class PGD(_MultiStepAdversary):
    """Trains on PGD adversarial examples (Madry et al.'s adversarial
    training).

    Each step replaces the batch by its adversarial examples: from a random
    start in the ball (or the inputs themselves), `steps` ascent steps on
    the training loss, each one forward and backward pass whose layer state
    is discarded, projected onto the L-inf or L2 ball of radius `epsilon`
    and clipped to `value_range`. The model then trains on them, so the
    step's `loss` is the adversarial loss. A PGD-k step runs k extra
    forward and backward passes. Runs after mixing components (the
    adversary attacks the mixed batch) and honours sample weights.

    Args:
        epsilon: float >= 0 or Schedule, the ball's radius in input units
            (the usual warm-up from 0 is a schedule). May be a `Schedule`
            (moved by [`StrengthScheduler`][scheduled]).
        steps: int in [0, 100] or Schedule, ascent steps per training step
            (a schedule is unrolled to its largest value, the steps beyond
            its current one masked). Defaults to `7`. May be a `Schedule`
            (moved by [`StrengthScheduler`][scheduled]).
        step_size: float >= 0, Schedule, or None for `2.5 * epsilon /
            steps` (Madry et al.'s choice). Defaults to `None`.
        norm: `"inf"` or `"2"`, the ball's norm. Defaults to `"inf"`.
        random_start: bool, start from a uniform point of the ball (L-inf)
            or a random direction at a uniform radius (L2). Defaults to
            `True`.
        value_range: `(low, high)` the adversarial inputs are clipped to,
            or None. Defaults to `None`.
        seed: int or None, for the random start. Defaults to `None`.

    Examples:

        >>> PGD(epsilon=8 / 255, steps=7, value_range=(0, 1)).steps
        7

    References:
        Madry et al., Towards Deep Learning Models Resistant to Adversarial
        Attacks, 2018. https://arxiv.org/abs/1706.06083
    """

    def __init__(self, epsilon, steps=7, step_size=None, norm="inf",
                 random_start=True, value_range=None, **kwargs):
        super().__init__(**kwargs)
        self._init_attack(epsilon, steps, step_size, norm, value_range)
        self.random_start = checks.boolean("PGD", "random_start",
                                           random_start)

    def _start(self, inputs, epsilon):
        shape = ops.shape(inputs)
        if self.norm == "inf":
            noise = 2.0 * _random.uniform(shape, self.seed_generator) - 1.0
            start = inputs + epsilon * noise
        else:
            direction = _random.normal(shape, self.seed_generator)
            direction = direction / ops.maximum(_l2(direction), 1e-12)
            radius = _random.uniform((shape[0],), self.seed_generator)
            radius = ops.reshape(radius, (-1,) + (1,) * (len(shape) - 1))
            start = inputs + epsilon * radius * direction
        return self._clipped(start)

    def attack(self, inputs, gradient):
        """The adversarial batch for `inputs`, given `gradient(batch)`."""
        start = (self._start(inputs, self.strength("epsilon").value)
                 if self.random_start else None)
        return self._pgd(inputs, gradient, start)

    def transform_batch(self, batch, step):
        adversarial = self.attack(
            batch.x, lambda x: step.input_gradient(batch._replace(x=x))[1])
        return batch._replace(x=ops.stop_gradient(adversarial))

    def get_config(self):
        return {**super().get_config(), "random_start": self.random_start}


def kl_divergence(clean, adversarial, from_logits=False):
    """Per example, `KL(p_clean || p_adversarial)` of two predictions
    `(batch, ..., classes)` (averaged over any axes between); one output
    unit is a Bernoulli prediction.

    Examples:

        >>> p = keras.ops.convert_to_tensor([[0.5, 0.5]])
        >>> q = keras.ops.convert_to_tensor([[0.9, 0.1]])
        >>> [round(float(v), 4) for v in kl_divergence(p, q)]
        [0.5108]
    """
    checks.boolean("kl_divergence", "from_logits", from_logits)
    log_p = log_probabilities(clean, from_logits)
    log_q = log_probabilities(adversarial, from_logits)
    divergence = ops.sum(ops.exp(log_p) * (log_p - log_q), axis=-1)
    return ops.mean(ops.reshape(divergence,
                                (ops.shape(divergence)[0], -1)), axis=-1)


@keras.saving.register_keras_serializable(package="keras_regkit")
class TRADES(_MultiStepAdversary):
    """TRADES: the clean loss plus `beta` times the KL divergence between
    clean and adversarial predictions.

    Each step finds, for every example, the point of the ball around it
    whose prediction diverges most from the clean one (PGD on
    `KL(f(x) || f(x'))` from `x + 0.001 * N(0, 1)`, the clean predictions
    held fixed), then trains on `loss(f(x), y) + beta * KL(f(x) || f(x'))`
    (both predictions in one forward pass of twice the batch, the gradient
    through both, as the paper's code does). Smaller `beta` favours clean
    accuracy, larger robustness (the paper: 1 to 6). Logs `trades_kl`.

    Args:
        epsilon: float >= 0 or Schedule, the ball's radius in input units.
            May be a `Schedule` (moved by [`StrengthScheduler`][scheduled]).
        beta: float >= 0 or Schedule, the divergence's weight. Defaults to
            `6.0`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        steps: int in [0, 100] or Schedule, the attack's ascent steps (as
            for `PGD`). Defaults to `10`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        step_size: float >= 0, Schedule, or None for `2.5 * epsilon /
            steps`. Defaults to `None`.
        norm: `"inf"` or `"2"`. Defaults to `"inf"`.
        value_range: `(low, high)` the adversarial inputs are clipped to,
            or None. Defaults to `None`.
        from_logits: bool, whether the model outputs logits (as the loss's
            `from_logits`). Defaults to `False`.
        seed: int or None, for the attack's start. Defaults to `None`.

    Examples:

        >>> TRADES(epsilon=8 / 255, beta=6.0, from_logits=True).beta
        6.0

    References:
        Zhang et al., Theoretically Principled Trade-off between Robustness
        and Accuracy, 2019. https://arxiv.org/abs/1901.08573
    """

    logs = ("trades_kl",)

    beta = Scheduled(NON_NEGATIVE)

    def __init__(self, epsilon, beta=6.0, steps=10, step_size=None,
                 norm="inf", value_range=None, from_logits=False, **kwargs):
        super().__init__(**kwargs)
        self._init_attack(epsilon, steps, step_size, norm, value_range)
        self.beta = beta
        self.from_logits = checks.boolean("TRADES", "from_logits",
                                          from_logits)

    def attack(self, inputs, clean, gradient_of):
        """The adversarial batch for `inputs` whose clean predictions are
        `clean`; `gradient_of(objective, x)` gives the input gradient of
        `objective(predictions(x))`."""
        start = self._clipped(inputs + 0.001 * _random.normal(
            ops.shape(inputs), self.seed_generator))

        def divergence(predictions):
            return ops.sum(kl_divergence(clean, predictions,
                                         self.from_logits))

        return self._pgd(inputs, lambda x: gradient_of(divergence, x)[1],
                         start)

    def transform_batch(self, batch, step):
        clean = ops.stop_gradient(step.predictions(batch.x))
        adversarial = ops.stop_gradient(
            self.attack(batch.x, clean, step.input_gradient_of))
        doubled = batch.repeated(2)
        size = ops.shape(batch.x)[0]
        weight = (ops.ones((size,), "float32") if batch.sample_weight is None
                  else ops.cast(batch.sample_weight, "float32"))
        # Twice the clean weights, none on the adversarial copies: the
        # model's loss averaged over the doubled batch is the clean loss.
        return doubled._replace(
            x=ops.concatenate([batch.x, ops.cast(adversarial,
                                                 batch.x.dtype)], 0),
            sample_weight=ops.concatenate(
                [2.0 * weight, ops.zeros_like(weight)], 0))

    def loss_term(self, y_pred, batch, step):
        clean, adversarial = ops.split(y_pred, 2, axis=0)
        weight = ops.split(batch.sample_weight, 2, axis=0)[0] / 2.0
        divergence = kl_divergence(clean, adversarial, self.from_logits)
        divergence = ops.sum(divergence * weight) / ops.maximum(
            ops.sum(weight), 1e-12)
        step.log("trades_kl", divergence)
        return self.strength("beta").value * divergence

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}

