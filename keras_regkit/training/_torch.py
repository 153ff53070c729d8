"""The train step's torch executor: autograd, eager (no XLA).

Keras runs torch steps eagerly (`jit_compile=True` means `torch.compile`,
which we do not promise); gradients come from `torch.autograd.grad` on
detached copies of the values, so the step never touches `.grad`.
"""

import keras

from keras_regkit.training._step import OneProgramExecutor
from keras_regkit.training._step import run_in_place


def _detached(value):
    import torch

    return value.detach() if isinstance(value, torch.Tensor) else value


class Executor(OneProgramExecutor):
    """What `Step` asks of this backend."""

    @staticmethod
    def value_and_grad(fn, args):
        import torch

        flat = keras.tree.flatten(args)
        leaves = [keras.ops.convert_to_tensor(a).detach().requires_grad_(True)
                  for a in flat]
        with torch.enable_grad():
            value, aux = fn(keras.tree.pack_sequence_as(args, leaves))
            gradients = torch.autograd.grad(value, leaves, allow_unused=True)
        gradients = [torch.zeros_like(leaf) if g is None else g
                     for g, leaf in zip(gradients, leaves, strict=True)]
        return ((value.detach(), keras.tree.map_structure(_detached, aux)),
                keras.tree.pack_sequence_as(args, gradients))


    @staticmethod
    def compiled(fn):
        """`fn` itself: torch runs eagerly."""
        return fn


def train_step(model, data):
    import torch

    step, gradients, loss, y_pred, batch = run_in_place(
        model, Executor, data)
    with torch.no_grad():
        model.optimizer.apply(step.for_optimizer(gradients),
                              model.trainable_weights)
        if step.corrections is not None:
            for variable, change in zip(model.trainable_weights,
                                        step.corrections, strict=True):
                if change is not None:
                    variable.assign(variable.value + change)
    return model._record(loss, batch, y_pred, step.logs, step.finite)
