"""`computed_once` and `kept_apart`: work XLA on CPUs would recompute
inside gathers is computed apart, with the same values."""

import keras
import numpy as np
import pytest

from keras_regkit import _fusion
from keras_regkit._compat import jax as jax_compat
from keras_regkit._compat import tensorflow as tf_compat
from keras_regkit.layers.augment import geometry

needs_jax = pytest.mark.skipif(keras.backend.backend() != "jax",
                               reason="needs the JAX backend")


def _masks_and_matrices():
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 9, (4, 24, 20, 1)).astype("uint8")
    angles = rng.uniform(-0.6, 0.6, 4).astype("float32")
    zooms = rng.uniform(0.5, 2.5, 4).astype("float32")
    matrices = geometry.compose(geometry.rotation(angles, 24, 20),
                                geometry.zoom(zooms, zooms, 24, 20))
    return masks, np.asarray(matrices)


@pytest.mark.tf
def test_only_tensorflow_xla_compilations_take_the_detour():
    import tensorflow as tf

    def probe():
        return tf.constant(tf_compat.xla_on_cpu())

    assert bool(tf.function(probe, jit_compile=True)())
    assert not bool(tf.function(probe)())
    assert not tf_compat.xla_on_cpu()  # eager


def _check_bit_identical_with_and_without(monkeypatch, compile_,
                                          fill_mode):
    """Masks resampled by `compile_`d code with `computed_once` and with
    it taken out: the same bits, in their own dtype."""
    masks, matrices = _masks_and_matrices()

    def resample():
        call = compile_(lambda m, a: geometry.resample_nearest(
            m, a, fill_mode=fill_mode, fill_value=255))
        return keras.ops.convert_to_numpy(call(masks, matrices))

    apart = resample()
    monkeypatch.setattr(geometry, "computed_once", lambda t: t)
    fused = resample()
    np.testing.assert_array_equal(apart, fused)
    assert apart.dtype == np.uint8
    assert (apart != 255).any() and (apart != masks).any()


@pytest.mark.tf
@pytest.mark.parametrize("fill_mode", geometry.FILL_MODES)
def test_masks_are_bit_identical_with_and_without(monkeypatch, fill_mode):
    import tensorflow as tf

    _check_bit_identical_with_and_without(
        monkeypatch, lambda fn: tf.function(fn, jit_compile=True), fill_mode)


@pytest.mark.tf
def test_the_compiled_gather_reads_precomputed_indices():
    import tensorflow as tf

    masks, matrices = _masks_and_matrices()
    call = tf.function(lambda m, a: geometry.resample_nearest(m, a),
                       jit_compile=True)
    hlo = call.experimental_get_compiler_ir(masks, matrices)(
        stage="optimized_hlo")
    entry = hlo[hlo.index("ENTRY"):]
    # The index arithmetic ends in its own reduction fusion, whose result
    # the gather's fusion takes as an operand.
    reduce_fusions = [line.split("=")[0].strip() for line in
                      entry.splitlines() if "reduce" in line and "fusion("
                      in line]
    assert reduce_fusions, entry
    root = next(line for line in entry.splitlines() if "ROOT" in line)
    assert any(name in root for name in reduce_fusions), entry


@pytest.mark.backends
@needs_jax
@pytest.mark.parametrize("fill_mode", geometry.FILL_MODES)
def test_jax_masks_are_bit_identical_with_and_without(monkeypatch,
                                                      fill_mode):
    import jax

    _check_bit_identical_with_and_without(monkeypatch, jax.jit, fill_mode)


@pytest.mark.backends
@needs_jax
def test_jax_gather_reads_indices_from_a_reduce_window():
    import jax

    masks, matrices = _masks_and_matrices()
    assert not jax_compat.tracing_for_cpu(keras.ops.ones(2))  # eager
    compiled = jax.jit(geometry.resample_nearest).lower(
        masks, matrices).compile().as_text()
    entry = compiled[compiled.index("ENTRY"):]
    window = next(line.split("=")[0].strip() for line in entry.splitlines()
                  if "reduce-window" in line)
    root = next(line for line in entry.splitlines() if "ROOT" in line)
    assert window in root, entry


def _flip_then_rotate():
    from keras_regkit import layers

    flip = layers.RandomFlip(seed=1, keep_dtype=True)
    rotate = layers.RandomRotation(0.1, fill_mode="constant", seed=2,
                                   keep_dtype=True)
    return lambda d: rotate(flip(d, training=True), training=True)


def _detection_batch(mask_dtype):
    rng = np.random.default_rng(1)
    return {"images": rng.integers(0, 256, (4, 24, 20, 3)).astype("uint8"),
            "segmentation_masks": rng.integers(0, 2, (4, 24, 20, 1)).astype(
                mask_dtype)}


@pytest.mark.tf
@pytest.mark.parametrize("mask_dtype", ["uint8", "bool"])
def test_a_layer_is_not_recomputed_inside_the_next_ones_gathers(
        monkeypatch, mask_dtype):
    """Two layers (not fused) compiled together: the first one's images and
    masks (binary ones too) reach the second through a conditional XLA
    fuses nothing across, and the results are the same bits as without
    it."""
    import tensorflow as tf

    from keras_regkit.layers.augment import _base

    data = _detection_batch(mask_dtype)
    call = tf.function(_flip_then_rotate(), jit_compile=True)
    hlo = call.experimental_get_compiler_ir(data)(stage="optimized_hlo")
    entry = hlo[hlo.index("ENTRY"):]
    assert entry.count("conditional(") >= 4, entry  # 2 layers x 2 keys
    kept = tf.nest.map_structure(lambda t: t.numpy(), call(data))
    monkeypatch.setattr(_base, "kept_apart", lambda tensor, token: tensor)
    fused = tf.nest.map_structure(
        lambda t: t.numpy(),
        tf.function(_flip_then_rotate(), jit_compile=True)(data))
    for key in data:
        np.testing.assert_array_equal(kept[key], fused[key])
        assert kept[key].dtype == data[key].dtype
    assert (kept["images"] != data["images"]).any()


@pytest.mark.backends
@pytest.mark.parametrize("mask_dtype", ["uint8", "bool"])
def test_jax_keeps_a_layer_apart_from_the_next_ones_gathers(
        monkeypatch, mask_dtype):
    """Under `jax.jit` for the CPU too: the conditional (one branch adds
    zero, or JAX drops it) is in the compiled program, and the results are
    the same bits and dtypes as without it."""
    if keras.backend.backend() != "jax":
        pytest.skip("JAX's compiler only")
    import jax

    from keras_regkit.layers import RandomFlip
    from keras_regkit.layers import RandomRotation
    from keras_regkit.layers.augment import _base

    data = _detection_batch(mask_dtype)
    flip = RandomFlip(seed=1, keep_dtype=True)
    rotate = RandomRotation(0.1, fill_mode="constant", seed=2,
                            keep_dtype=True)

    def compiled():
        # A new function each time: `jax.jit` reuses a function's trace.
        def call(states, batch):
            batch, _ = flip.stateless_call([], states[0], batch,
                                           training=True)
            batch, _ = rotate.stateless_call([], states[1], batch,
                                             training=True)
            return batch

        return jax.jit(call)

    for layer in (flip, rotate):
        layer.build(data["images"].shape)
    states = [[v.value for v in layer.non_trainable_variables]
              for layer in (flip, rotate)]
    call = compiled()
    program = call.lower(states, data).compile().as_text()
    assert program.count("conditional(") >= 4, program  # 2 layers x 2 keys
    kept = call(states, data)
    monkeypatch.setattr(_base, "kept_apart", lambda tensor, token: tensor)
    call = compiled()
    program = call.lower(states, data).compile().as_text()
    assert "conditional(" not in program, program  # traced anew without
    fused = call(states, data)
    for key in data:
        np.testing.assert_array_equal(np.asarray(kept[key]),
                                      np.asarray(fused[key]))
        assert kept[key].dtype == data[key].dtype
    assert (np.asarray(kept["images"]) != data["images"]).any()


@pytest.mark.backends
def test_kept_apart_is_the_tensor_itself_where_nothing_fuses():
    """Eagerly and in graphs XLA does not compile it changes nothing."""
    tensor = keras.ops.arange(6)
    for keep in (_fusion.kept_apart, _fusion.kept_apart_under_tensorflow):
        assert keep(tensor, 1) is tensor
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            seen = []
            # Traced at once, in this iteration (tf.function refuses a
            # default argument the function changes).
            tf.function(lambda t, keep=keep: seen.append(  # noqa: B023
                keep(t, 1) is t) or t)(tensor)
            assert seen == [True]


def _compiled_with_program(layer, inputs):
    """(compiled training call of `layer` on `inputs`, returning numpy
    arrays; its compiled program as text) under TensorFlow's XLA or
    `jax.jit`; a new trace each time."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        call = tf.function(lambda x: layer(x, training=True),
                           jit_compile=True)
        program = call.experimental_get_compiler_ir(inputs)(
            stage="optimized_hlo")
        return lambda: keras.tree.map_structure(np.asarray,
                                                call(inputs)), program
    import jax

    images = inputs["images"] if isinstance(inputs, dict) else inputs
    layer.build(images.shape)
    states = [v.value for v in layer.non_trainable_variables]
    call = jax.jit(lambda s, x: layer.stateless_call([], s, x,
                                                     training=True)[0])
    program = call.lower(states, inputs).compile().as_text()
    return lambda: keras.tree.map_structure(np.asarray,
                                            call(states, inputs)), program


def _contrast_then_rotate():
    from keras_regkit import layers

    return layers.Augment([layers.RandomContrast(0.5, seed=1),
                           layers.RandomRotation(0.1, fill_mode="constant",
                                                 seed=2)], keep_dtype=True)


@pytest.mark.tf
@pytest.mark.parametrize("mask_dtype", ["uint8", "bool"])
def test_augment_keeps_a_step_apart_from_the_next_resampling(monkeypatch,
                                                             mask_dtype):
    """Inside one `Augment` under TensorFlow's XLA, a colour step reaches
    the rotation's gathers through a conditional too (images and masks:
    two more than the layer's own output has), with the same bits as
    without it."""
    from keras_regkit.layers.augment import pipeline

    data = _detection_batch(mask_dtype)

    def conditionals(program):
        return program[program.index("ENTRY"):].count("conditional(")

    run, program = _compiled_with_program(_contrast_then_rotate(), data)
    assert conditionals(program) >= 4
    kept = run()
    monkeypatch.setattr(pipeline, "kept_apart_under_tensorflow",
                        lambda tensor, token: tensor)
    run, program = _compiled_with_program(_contrast_then_rotate(), data)
    assert conditionals(program) == 2  # the layer's output: images, masks
    fused = run()
    for key in data:
        np.testing.assert_array_equal(kept[key], fused[key])
        assert kept[key].dtype == data[key].dtype
    assert (kept["images"] != data["images"]).any()
    assert (kept["segmentation_masks"] != data["segmentation_masks"]).any()


@pytest.mark.backends
def test_jax_fuses_a_step_into_the_next_resampling():
    """Under `jax.jit` the step stays fused (faster there): only the
    layer's output goes through conditionals."""
    if keras.backend.backend() != "jax":
        pytest.skip("JAX's compiler only")
    _, program = _compiled_with_program(_contrast_then_rotate(),
                                        _detection_batch("uint8"))
    assert program.count("conditional(") == 2, program


@pytest.mark.backends
@pytest.mark.parametrize("name", ["RandAugment", "AugMix"])
def test_policies_keep_their_chains_apart_from_the_resampling(monkeypatch,
                                                              name):
    """`RandAugment`'s chain (`AugMix`'s three) reaches the resampling
    through a conditional under XLA on CPU (TensorFlow and JAX), with the
    same bits as without it."""
    if keras.backend.backend() not in ("tensorflow", "jax"):
        pytest.skip("XLA's compilers only")
    if name == "AugMix" and keras.backend.backend() == "tensorflow":
        # TensorFlow's XLA took 40 s for AugMix's two programs; its chains
        # call the same `kept_apart` as RandAugment's, checked here on
        # TensorFlow, and AugMix's three are checked under JAX.
        pytest.skip("AugMix's chains: checked under JAX")
    from keras_regkit import layers
    from keras_regkit.layers.augment import aug_mix
    from keras_regkit.layers.augment import policies

    images = np.random.default_rng(2).uniform(
        0, 255, (4, 24, 20, 3)).astype("float32")
    run, program = _compiled_with_program(getattr(layers, name)(seed=3),
                                          images)
    kept = run()
    chains = 3 if name == "AugMix" else 1
    entry = program[program.index("ENTRY"):]
    assert entry.count("conditional(") >= chains + 1, entry
    for module in (policies, aug_mix):
        monkeypatch.setattr(module, "kept_apart",
                            lambda tensor, token: tensor)
    run, program = _compiled_with_program(getattr(layers, name)(seed=3),
                                          images)
    entry = program[program.index("ENTRY"):]
    assert entry.count("conditional(") == 1, entry  # the layer's output
    np.testing.assert_array_equal(kept, run())
    assert not np.allclose(kept, images)


def _check_elastic_grid_is_computed_once(monkeypatch):
    """`RandomElasticTransform`'s blurred grid (4x33x33x2 for 32x32
    images) is an array of its own in the compiled program, so the gathers
    read it instead of rerunning the blur per pixel; taken out, no such
    array, and the same bits either way (images and masks)."""
    from keras_regkit import layers
    from keras_regkit.layers.augment import elastic

    rng = np.random.default_rng(0)
    inputs = {"images": rng.uniform(0, 255, (4, 32, 32, 3)).astype(
        "float32"), "segmentation_masks": rng.integers(
            0, 9, (4, 32, 32, 1)).astype("uint8")}
    grid = "4,33,33,2]"  # under JAX, [2,4,33,33,2] (see `computed_once`)

    def grid_arrays(program):
        entry = program[program.index("ENTRY"):]
        return [line for line in entry.splitlines()
                if grid in line and "fusion(" in line]

    layer = layers.RandomElasticTransform(seed=1)
    assert layer._grid(32, 32)[1:3] == (33, 33)
    run, program = _compiled_with_program(layer, inputs)
    apart = run()
    assert grid_arrays(program), program
    monkeypatch.setattr(elastic, "computed_once", lambda t: t)
    run, program = _compiled_with_program(
        layers.RandomElasticTransform(seed=1), inputs)
    fused = run()
    assert not grid_arrays(program)
    np.testing.assert_array_equal(apart["images"], fused["images"])
    np.testing.assert_array_equal(apart["segmentation_masks"],
                                  fused["segmentation_masks"])
    assert (apart["images"] != inputs["images"]).any()


@pytest.mark.tf
def test_elastic_grid_is_computed_once(monkeypatch):
    _check_elastic_grid_is_computed_once(monkeypatch)


@pytest.mark.backends
@needs_jax
def test_jax_elastic_grid_is_computed_once(monkeypatch):
    _check_elastic_grid_is_computed_once(monkeypatch)
