"""`RegularizationMonitor`: what regularization is doing, in `logs`."""

import fnmatch

import keras
import numpy as np

from keras_regkit import _checks as checks
from keras_regkit._compat.jax import host_array
from keras_regkit._compat.keras_layers import flatten_layers
from keras_regkit.strengths import collect_strengths


class RegularizationMonitor(keras.callbacks.Callback):
    """Writes regularization diagnostics into `logs` every epoch.

    So `History`, `CSVLogger` and `keras.callbacks.TensorBoard` (placed after
    it in `callbacks`) see them. Names:

    - `regkit/penalty/<layer>/<weight>`: the current penalty of each weight
      regularizer (activity regularizers depend on the data and are left
      to the loss);
    - `regkit/penalty/total`: their sum;
    - `regkit/norm/<layer>/<weight>`: L2 norm of each kernel (and other
      trainable weights with more than one dimension);
    - `regkit/sparsity/<layer>/<weight>`: share of entries with
      `|w| < sparsity_threshold`;
    - `regkit/strength/<path>`: the current value of every strength (also
      plain ones);
    - `regkit/gap/<metric>`: `val_<metric> - <metric>` for each metric with a
      validation counterpart (a positive loss gap means overfitting).

    It reads weights once per epoch, on the host; nothing runs in the train
    step.

    Args:
        sparsity_threshold: float >= 0. Defaults to `1e-3`.
        layers: list of shell-style patterns of layer names to report norms
            and sparsity for. Defaults to `["*"]`.

    Examples:

        >>> monitor = RegularizationMonitor(sparsity_threshold=1e-4)
    """

    def __init__(self, sparsity_threshold=1e-3, layers=("*",)):
        super().__init__()
        owner = "RegularizationMonitor"
        checks.number(owner, "sparsity_threshold", sparsity_threshold,
                      lambda v: v >= 0, "a float >= 0")
        layers = checks.patterns(owner, "layers", layers,
                                 "a non-empty list of layer-name patterns")
        self.sparsity_threshold = float(sparsity_threshold)
        self.layers = list(layers)

    def diagnostics(self, logs=None):
        """The diagnostics for the model as it is now, as a dict."""
        out = {}
        total = 0.0
        seen = set()
        # Children come before parents, so a weight is reported under the
        # layer that owns it, not under a model that contains that layer.
        for layer in reversed(flatten_layers(self.model)):
            if layer is self.model:
                continue
            wanted = any(fnmatch.fnmatchcase(layer.name, p)
                         for p in self.layers)
            own = [w for w in layer.trainable_weights if id(w) not in seen]
            seen.update(id(w) for w in own)
            for weight in own:
                regularizer = getattr(weight, "regularizer", None)
                if regularizer is not None:
                    penalty = float(host_array(regularizer(weight.value)))
                    key = f"regkit/penalty/{layer.name}/{weight.name}"
                    out[key] = penalty
                    total += penalty
                if wanted and len(weight.shape) > 1:
                    values = host_array(weight)
                    base = f"{layer.name}/{weight.name}"
                    out[f"regkit/norm/{base}"] = float(np.linalg.norm(values))
                    out[f"regkit/sparsity/{base}"] = float(
                        np.mean(np.abs(values) < self.sparsity_threshold))
        out["regkit/penalty/total"] = total
        for path, strength in collect_strengths(self.model).items():
            out[f"regkit/strength/{path}"] = strength.current
        for name, value in (logs or {}).items():
            if name.startswith("val_") and name[4:] in logs:
                out[f"regkit/gap/{name[4:]}"] = float(value - logs[name[4:]])
        return out

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.diagnostics(logs))
