"""Keras's own Embedding tests, run against our `Embedding` and
`EmbeddingDropout`.

On the TensorFlow pass only: what they exercise beyond a call and a fit
(quantization, LoRA, variable counts) is Keras's own Embedding code, which
Keras's CI runs on every backend; our part, dropping whole words, is
tested on every backend in `test_embedding_dropout.py`.
"""

import types

import keras
import pytest

from keras_regkit import layers


def _keras_embedding_suite(cls, seed_generators, different):
    module = pytest.importorskip("keras.src.layers.core.embedding_test")

    class Suite(module.EmbeddingTest):
        """Keras's own Embedding tests, with our layer as `Embedding`.

        Only the count of seed generators is ours (see `run_layer_test`);
        every other assertion is Keras's.
        """

        def run_layer_test(self, *args, **kwargs):
            # EmbeddingDropout's own state: one seed generator (Keras's
            # count is Embedding's, none).
            kwargs["expected_num_seed_generators"] = seed_generators
            return super().run_layer_test(*args, **kwargs)

        @pytest.fixture(autouse=True)
        def _use_keras_regkit(self, monkeypatch):
            names = {n: getattr(keras.layers, n) for n in dir(keras.layers)
                     if not n.startswith("_")}
            names["Embedding"] = cls
            monkeypatch.setattr(module, "layers",
                                types.SimpleNamespace(**names))

    for name, reason in different.items():
        # A new function per suite: a mark on Keras's own function would
        # skip it in every suite that inherits it.
        def skipped(self):
            pass

        skipped.__name__ = name
        setattr(Suite, name, pytest.mark.skip(reason=reason)(skipped))
    Suite.__name__ = f"TestKerasEmbeddingSuite{cls.__name__}"
    return Suite


TestKerasEmbeddingSuiteEmbedding = _keras_embedding_suite(
    layers.Embedding, 0, {})
TestKerasEmbeddingSuiteEmbeddingDropout = _keras_embedding_suite(
    layers.EmbeddingDropout, 1, {
        "test_sparse": "trains on sparse ids; ours drops words of dense "
                       "ids only (clear error, tested)",
        "test_ragged": "trains on ragged ids; ours drops words of dense "
                       "ids only (clear error, tested)",
        "test_quantize_by_setting_dtype_policy_int8": "counts variables: "
                       "ours adds its seed generator's",
        "test_quantize_by_setting_dtype_policy_int4": "counts variables: "
                       "ours adds its seed generator's",
    })
