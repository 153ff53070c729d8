"""What a compiled model keeps privately for training."""


def loss_tracker(model):
    """The `Mean` metric behind the `loss` log, or None (not compiled).

    Keras 3.0+: `Trainer.compile` creates it as `model._loss_tracker`; the
    backends' `train_step` updates it with the batch's loss.
    """
    return getattr(model, "_loss_tracker", None)


def learning_rate_state(optimizer):
    """What the optimizer's learning rate is held in: a `keras.Variable`
    for a number (assignable), else the `LearningRateSchedule` given.

    Keras 3.0+: `BaseOptimizer._learning_rate` (the public
    `learning_rate` property reads a schedule's current value instead).
    """
    return getattr(optimizer, "_learning_rate", None)
