"""torch's global random generators, which Keras's unseeded random layers
(`Dropout(seed=None)`) draw from under the torch backend."""

import keras


def global_generator_states():
    """The CPU generator's state and, once CUDA is in use, each GPU's, as
    bytes; None under the other backends."""
    if keras.backend.backend() != "torch":
        return None
    import torch

    states = [torch.get_rng_state()]
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states += torch.cuda.get_rng_state_all()
    return [s.numpy().tobytes() for s in states]


def set_global_generator_states(states):
    """Restores what `global_generator_states` gave (same backend and
    devices: the caller checks the count and sizes)."""
    import torch

    tensors = [torch.frombuffer(bytearray(s), dtype=torch.uint8)
               for s in states]
    torch.set_rng_state(tensors[0])
    if len(tensors) > 1:
        torch.cuda.set_rng_state_all(tensors[1:])
