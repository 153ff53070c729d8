"""Keras's backend state that has no public query."""


def in_stateless_scope():
    """Whether code runs inside a `keras.StatelessScope` (our train step's,
    Keras's `stateless_call`): variables read there are tensors of the
    enclosing computation, not the variables' own values.

    Keras 3.0+: `keras.src.backend.in_stateless_scope()` (the scope object
    is public as `keras.StatelessScope`, the query is not).
    """
    from keras.src.backend import in_stateless_scope as query

    return query()
