"""``synthetic``: a procedurally generated, seeded surveillance scene, the default dataset.

It exists so that ``vadbench run`` works with no download and tests have exact ground truth.
It is **synthetic**: numbers obtained on it say nothing about real benchmarks, and every table
that shows them says so.

The scene imitates UCSD Ped2's setting, at 120×180 pixels: a static, textured background (a
grass strip at the top, a paved walkway with tiles, lamp posts and a bench) seen by a fixed camera,
with sensor noise and a slow illumination drift. Normal activity is pedestrians with articulated
legs and arms walking along and across the walkway at walking speed, in both directions, their
number varying over time and between videos. Test videos add anomalies of the kinds the real
benchmarks contain: a fast cyclist, a cart, a runner, a thrown object and a walker on the
forbidden grass. Frame labels and pixel masks are exact: a frame is anomalous when an anomalous
actor covers at least one pixel of it, and the mask is that actor's drawn silhouette.

Everything is a deterministic function of ``seed``, the split and the video index. The options
``seed``, ``train_videos``, ``test_videos`` and ``frames`` (per video) set the generated set, e.g.
``--data-set seed=3 --data-set test_videos=20``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, Any

import cv2
import numpy as np

from vadbench.config import Range, to_dict
from vadbench.data.source import DatasetAdapter, SourceVideo, SplitListing
from vadbench.registry import register_dataset

H, W = 120, 180
GRASS_END = 42  # rows [0, GRASS_END) are grass: walking there is the "forbidden path" anomaly
KINDS = ("cyclist", "cart", "runner", "thrown", "grass_walker")


def _background(rng: np.random.Generator) -> np.ndarray:
    """A static RGB background: textured grass, tiled walkway, lamp posts, a bench."""
    noise = cv2.GaussianBlur(rng.normal(0, 1, (H, W)).astype(np.float32), (0, 0), 2.0)
    img = np.empty((H, W, 3), np.float32)
    img[:GRASS_END] = np.array([70, 110, 60], np.float32) + 18 * noise[:GRASS_END, :, None]
    img[GRASS_END:] = np.array([150, 148, 140], np.float32) + 8 * noise[GRASS_END:, :, None]
    for y in range(GRASS_END + 6, H, 12):  # tile joints, perspective-spaced columns
        img[y, :] -= 25
    for x in range(0, W, 15):
        img[GRASS_END:, x] -= 18
    img[GRASS_END - 2:GRASS_END + 1] = (110, 105, 95)  # kerb
    out = np.clip(img, 0, 255).astype(np.uint8)
    for x in (30, 150):
        cv2.line(out, (x, GRASS_END + 2), (x, 8), (60, 60, 65), 2)
        cv2.circle(out, (x, 8), 3, (210, 210, 170), -1)
    cv2.rectangle(out, (80, GRASS_END - 12), (110, GRASS_END - 6), (90, 60, 40), -1)
    return out


@dataclass
class Actor:
    """Something that moves through the scene on a straight path (or a parabola)."""

    kind: str
    t0: int
    x0: float
    y0: float
    vx: float
    vy: float
    color: tuple[int, int, int]
    gravity: float = 0.0
    stride: float = 0.25  # leg swing cycles per pixel travelled
    anomalous: bool = False

    def position(self, t: float) -> tuple[float, float]:
        dt = t - self.t0
        return self.x0 + self.vx * dt, self.y0 + self.vy * dt + 0.5 * self.gravity * dt * dt

    def size(self, y: float) -> float:
        """Figure height in pixels: larger nearer the camera (lower in the image)."""
        return 14.0 + 16.0 * min(max(y, 0.0), H) / H

    def draw(self, img: np.ndarray, t: int, color: tuple[int, int, int] | None = None) -> None:
        x, y = self.position(t)
        if t < self.t0 or not (-40 < x < W + 40 and -40 < y < H + 40):
            return
        c = color or self.color
        h = self.size(y)
        dist = math.hypot(self.vx, self.vy) * (t - self.t0)
        phase = math.sin(2 * math.pi * self.stride * dist / max(h, 1.0) * 4)
        if self.kind == "thrown":
            cv2.circle(img, _pt(x, y), 2, c, -1)
            return
        if self.kind == "cart":
            cv2.rectangle(img, _pt(x - 0.7 * h, y - 0.7 * h), _pt(x + 0.7 * h, y - 0.15 * h), c, -1)
            for dx in (-0.45, 0.45):
                cv2.circle(img, _pt(x + dx * h, y - 0.1 * h), max(2, int(0.12 * h)), (30, 30, 30) if color is None else c, -1)
            return
        if self.kind == "cyclist":
            r = max(3, int(0.2 * h))
            for dx in (-0.35, 0.35):
                cv2.circle(img, _pt(x + dx * h, y - r), r, (40, 40, 40) if color is None else c, 1)
            cv2.line(img, _pt(x - 0.35 * h, y - r), _pt(x + 0.35 * h, y - r), c, 1)
            self._upper_body(img, x, y - 0.35 * h, h * 0.8, 0.0, c)
            return
        lean = 0.12 * h * np.sign(self.vx) if self.kind == "runner" else 0.0
        hip = (x, y - 0.45 * h)
        thickness = max(1, int(0.09 * h))
        for s in (phase, -phase):
            cv2.line(img, _pt(*hip), _pt(x + s * 0.28 * h, y), (50, 50, 80) if color is None else c, thickness)
        self._upper_body(img, x, y, h, lean, c, phase)

    @staticmethod
    def _upper_body(img: np.ndarray, x: float, y: float, h: float, lean: float,
                    c: tuple[int, int, int], phase: float = 0.3) -> None:
        hip, shoulder = (x, y - 0.45 * h), (x + lean, y - 0.78 * h)
        cv2.line(img, _pt(*hip), _pt(*shoulder), c, max(2, int(0.16 * h)))
        for s in (phase, -phase):
            cv2.line(img, _pt(*shoulder), _pt(shoulder[0] - s * 0.22 * h, y - 0.45 * h), c, max(1, int(0.07 * h)))
        cv2.circle(img, _pt(x + lean, y - 0.9 * h), max(2, int(0.1 * h)), (225, 190, 160), -1)


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x)), int(round(y))


def _walker(rng: np.random.Generator, t0: int) -> Actor:
    """A normal pedestrian entering the walkway from a side (or crossing it diagonally)."""
    left = rng.random() < 0.5
    speed = rng.uniform(0.55, 1.25)
    y0 = rng.uniform(GRASS_END + 14, H - 4)
    vy = rng.uniform(-0.15, 0.15) if rng.random() < 0.8 else rng.uniform(-0.35, 0.35)
    color = tuple(int(v) for v in rng.integers(30, 230, 3))
    return Actor("walker", t0, -15.0 if left else W + 15.0, y0, speed if left else -speed, vy, color)


def _anomaly(rng: np.random.Generator, kind: str, t0: int) -> Actor:
    left = rng.random() < 0.5
    sign = 1.0 if left else -1.0
    x0 = -20.0 if left else W + 20.0
    y0 = rng.uniform(GRASS_END + 16, H - 6)
    color = tuple(int(v) for v in rng.integers(30, 230, 3))
    if kind == "cyclist":
        return Actor(kind, t0, x0, y0, sign * rng.uniform(3.0, 4.0), 0.0, color, anomalous=True)
    if kind == "cart":
        return Actor(kind, t0, x0, y0, sign * rng.uniform(1.6, 2.4), 0.0, (150, 40, 40), anomalous=True)
    if kind == "runner":
        return Actor(kind, t0, x0, y0, sign * rng.uniform(2.6, 3.4), 0.0, color, stride=0.2, anomalous=True)
    if kind == "thrown":
        xs = rng.uniform(40, W - 40)
        return Actor(kind, t0, xs, rng.uniform(70, 100), sign * rng.uniform(2.5, 4.0), -rng.uniform(3.0, 4.0),
                     (240, 240, 60), gravity=0.12, anomalous=True)
    # a pedestrian at walking speed, but on the grass
    return Actor("walker", t0, -15.0 if left else W + 15.0, rng.uniform(24, GRASS_END - 4),
                 sign * rng.uniform(0.6, 1.1), 0.0, color, anomalous=True)


@dataclass
class Scene:
    """One video: background, actors, noise; renders frames and anomaly masks on demand."""

    seed: int
    n_frames: int
    background: np.ndarray
    actors: list[Actor] = field(default_factory=list)

    def frame(self, t: int) -> np.ndarray:
        img = self.background.copy()
        for actor in sorted(self.actors, key=lambda a: a.position(t)[1]):  # far figures first
            actor.draw(img, t)
        gain = 1.0 + 0.04 * math.sin(2 * math.pi * t / 90.0 + self.seed)
        rng = np.random.default_rng((self.seed, t))
        noisy = img.astype(np.float32) * gain + rng.normal(0.0, 3.0, img.shape).astype(np.float32)
        return np.clip(noisy, 0, 255).astype(np.uint8)

    def mask(self, t: int) -> np.ndarray:
        m = np.zeros((H, W), np.uint8)
        for actor in self.actors:
            if actor.anomalous:
                actor.draw(m, t, color=(1, 1, 1))
        return m.astype(bool)


def make_scene(seed: int, split: str, index: int, n_frames: int) -> Scene:
    """The deterministic scene of video ``index`` of ``split``."""
    rng = np.random.default_rng((seed, 0 if split == "train" else 1, index))
    scene = Scene(int(rng.integers(2**31)), n_frames, _background(np.random.default_rng(seed)))
    rate = rng.uniform(0.03, 0.10)  # pedestrian arrivals per frame: crowd density varies per video
    for t0 in range(-150, n_frames):
        if rng.random() < rate:
            scene.actors.append(_walker(rng, t0))
    if split == "test":
        kinds = rng.choice(KINDS, size=int(rng.integers(1, 3)), replace=False)
        for kind in kinds:  # events start after 15 normal frames
            scene.actors.append(_anomaly(rng, str(kind), int(rng.integers(15, max(16, n_frames - 70)))))
    return scene


@register_dataset("synthetic")
class Synthetic(DatasetAdapter):
    """Built-in synthetic surveillance scene (seeded; exact labels and masks). SYNTHETIC data."""

    needs_root = False

    @dataclass
    class Options:
        """The generated set: its seed, its numbers of videos and the frames of each video."""

        seed: int = 0
        train_videos: Annotated[int, Range(ge=1)] = 8
        test_videos: Annotated[int, Range(ge=1)] = 8
        frames: Annotated[int, Range(ge=1)] = 150

    @classmethod
    def identity(cls, settings: Options) -> dict[str, Any]:
        """Every option, defaults too: the videos are a function of all of them, and the caches
        and results made so far are named so (``synthetic-4b61ae17-...`` for the defaults)."""
        return to_dict(settings)

    def listing(self, split: str) -> SplitListing:
        o = self.settings
        count = o.train_videos if split == "train" else o.test_videos
        videos = []
        for i in range(count):
            scene = make_scene(o.seed, split, i, o.frames)
            origin = f"synthetic://seed{o.seed}/{split}/{i + 1:02d}"
            labels = None
            masks = None
            if split == "test":
                labels = np.array([scene.mask(t).any() for t in range(scene.n_frames)], np.uint8)
                masks = lambda s=scene: (s.mask(t) for t in range(s.n_frames))  # noqa: E731
            videos.append(SourceVideo(f"{i + 1:02d}", lambda s=scene: (s.frame(t) for t in range(s.n_frames)),
                                      origin, scene.n_frames, labels, masks))
        return SplitListing(videos)

    def protocol_fields(self) -> dict[str, Any]:
        return {"gt_source": "synthetic_exact", "synthetic": True}

    def fingerprint(self) -> str:
        # the data is a pure function of the options and of this generator's code version
        import hashlib
        import inspect
        import sys

        code = inspect.getsource(sys.modules[__name__])
        blob = f"{sorted(self.options.items())}{code}".encode()
        return hashlib.sha256(blob).hexdigest()[:16]
