import numpy as np

from vadbench.data.synthetic import GRASS_END, Synthetic, make_scene


def test_deterministic_under_a_seed_and_different_across_seeds():
    a = next(Synthetic(seed=3).listing("test").videos[0].frames())
    b = next(Synthetic(seed=3).listing("test").videos[0].frames())
    c = next(Synthetic(seed=4).listing("test").videos[0].frames())
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == (120, 180, 3) and a.dtype == np.uint8


def test_labels_are_exactly_the_non_empty_masks_and_videos_hold_both_classes():
    for video in Synthetic().listing("test").videos:
        masks = np.stack(list(video.masks()))
        assert np.array_equal(masks.any(axis=(1, 2)), video.labels.astype(bool))
        assert 0 < video.labels.sum() < len(video.labels)
        assert not video.labels[:15].any()  # every event starts after 15 normal frames


def test_training_videos_hold_only_normal_walkers_on_the_walkway():
    for i in range(3):
        scene = make_scene(0, "train", i, 150)
        assert scene.actors and not any(a.anomalous for a in scene.actors)
        assert all(a.y0 >= GRASS_END for a in scene.actors)
        assert not any(scene.mask(t).any() for t in range(0, 150, 10))


def test_every_anomaly_kind_occurs_in_the_default_test_set():
    kinds = {a.kind if a.y0 >= GRASS_END else "grass_walker"
             for i in range(8) for a in make_scene(0, "test", i, 150).actors if a.anomalous}
    assert kinds == {"cyclist", "cart", "runner", "thrown", "grass_walker"}
