"""``synthetic``: a procedurally generated, seeded surveillance scene, the default dataset.

It exists so that ``vadbench run`` works with no download, tests have exact ground truth, and the
demo shows what learning normality buys. It is **synthetic**: numbers obtained on it say nothing
about real benchmarks, and every table and figure that shows them says so.

The scene (120 x 128 pixels, a fixed camera) is built so that a model of the normal scene beats a
motion-energy heuristic and an untrained network. Normal activity is regular and full of ordinary
motion: a steady stream of pedestrians, alone or in pairs (per video), all walking the same way
(left to right) along a tiled walkway at walking speed; trees on the verge behind it swaying in
gusts of wind; sensor noise and bursts of lighting flicker. Nobody walks on the lawn in front.

Each test video turns one ordinary walker into an anomaly, of one of four kinds in turn, each of
which breaks one regularity of the normal scene and none of which is "more pixels change":

* ``cart``: an object of the wrong appearance (a cart in a saturated colour nobody wears) moving
  with the flow at walking speed;
* ``lawn_walker``: a pedestrian cutting diagonally across the lawn, where nobody walks;
* ``counterflow``: a pedestrian walking against the flow;
* ``loiterer``: a pedestrian who stops walking through and mills about on the spot (a new heading
  every few frames) before walking on; only the milling is anomalous.

The anomaly takes the place of the ordinary walker (same entry time, row, speed and clothes), so a
test video holds as many people as a training video: an anomalous frame holds no more people, and
no more moving pixels, than a normal one. Frame differencing and an untrained network, which
measure how much there is and how much it moves, stay near chance; a model that learned how
normal walkers look and move does not. ``docs/datasets.md`` gives the measured figures.

Labels and masks are exact: the mask of a frame is the set of pixels where an anomalous actor is
visible (a nearer one in front hides it), and a frame is anomalous when its mask is not empty. No
anomaly appears before frame 15. Everything is a deterministic function of ``seed``, the split and
the video index; the options ``seed``, ``train_videos``, ``test_videos`` and ``frames`` (per video)
set the generated set, e.g. ``--data-set seed=3 --data-set test_videos=20``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import cv2
import numpy as np

from vadbench.config import Range, to_dict
from vadbench.data.source import DatasetAdapter, SourceVideo, SplitListing
from vadbench.registry import register_dataset

H, W = 120, 128
VERGE_END = 30  # rows [0, VERGE_END): the grass verge with its trees
WALKWAY = (32, 84)  # the walkway's rows, between two kerbs
FEET = (46, 82)  # where the walkers' feet are on the walkway
LAWN = (92, 119)  # where feet would be on the lawn in front of it
SPEED = (2.7, 2.9)  # walking speed, pixels per frame, always left to right
FIRST_ANOMALY = 15  # no anomaly before this frame
KINDS = ("cart", "lawn_walker", "counterflow", "loiterer")
CLOTHES = ((70, 70, 80), (60, 70, 110), (110, 90, 70), (80, 100, 80), (150, 140, 120), (120, 120, 125),
           (90, 60, 60), (50, 50, 55), (130, 110, 90), (100, 110, 130))  # muted colours
SKIN = ((225, 190, 160), (190, 150, 120), (140, 100, 75))
# Saturated hues nobody wears, about as far from mid-grey as dark clothes are: a cart is no brighter
# or darker a blob than the walker whose place it takes.
LOUD = ((200, 50, 130), (60, 190, 200), (210, 170, 40), (230, 110, 60))
NEVER = 10**9


def _background(rng: np.random.Generator) -> np.ndarray:
    """The static RGB background: a grass verge, a tiled walkway between kerbs, a lawn in front."""
    noise = cv2.GaussianBlur(rng.normal(0, 1, (H, W)).astype(np.float32), (0, 0), 2.0)
    img = np.array([110, 160, 80], np.float32) + 18 * noise[:, :, None]
    top, bottom = WALKWAY
    img[top:bottom] = np.array([150, 148, 140], np.float32) + 8 * noise[top:bottom, :, None]
    img[top + 6:bottom:12] -= 25  # tile joints
    img[top:bottom, ::15] -= 18
    img[top - 2:top] = img[bottom:bottom + 2] = (110, 105, 95)  # kerbs
    return np.clip(img, 0, 255).astype(np.uint8)


@dataclass
class Tree:
    """A tree on the verge whose crown sways, more in gusts of wind: ordinary motion."""

    x: float
    period: float  # frames per sway
    phase: float
    gust: tuple[float, float, float]  # largest sway (pixels), frames between gusts, phase

    def draw(self, img: np.ndarray, t: int) -> None:
        amplitude, every, phase = self.gust
        strength = amplitude * (0.5 + 0.5 * math.sin(2 * math.pi * t / every + phase)) ** 2
        sway = strength * math.sin(2 * math.pi * t / self.period + self.phase)
        cv2.line(img, _pt(self.x, VERGE_END), _pt(self.x + 0.3 * sway, 14), (80, 60, 40), 3)
        for dx, y, r, shade in ((0, 10, 9, 0), (-7, 14, 6, 20), (7, 14, 6, -15), (0, 4, 6, 10)):
            cv2.circle(img, _pt(self.x + dx + sway * (1.3 - y / 20.0), y), r, (40 + shade, 95 + shade, 40), -1)


@dataclass
class Actor:
    """A pedestrian (or a cart) walking in straight legs: from frame ``legs[i][0]`` on it moves by
    ``legs[i][1:]`` (pixels per frame), starting with its feet at ``(x0, y0)``. ``anomaly`` names
    the kind of anomaly it is (None: an ordinary walker), during the frames ``[during)``."""

    shape: Literal["walker", "cart"]
    x0: float
    y0: float
    legs: tuple[tuple[int, float, float], ...]
    color: tuple[int, int, int]
    skin: tuple[int, int, int] = SKIN[0]
    trim: tuple[int, int, int] = (45, 45, 60)  # the legs, or a cart's wheels
    anomaly: str | None = None
    during: tuple[int, int] = (NEVER, NEVER)

    def travel(self, t: int) -> tuple[float, float, float]:
        """Where its feet are at frame ``t``, and how far it has walked."""
        x, y, walked = self.x0, self.y0, 0.0
        for (start, vx, vy), (end, *_) in zip(self.legs, (*self.legs[1:], (NEVER,))):
            frames = min(t, end) - start
            if frames <= 0:
                break
            x, y, walked = x + vx * frames, y + vy * frames, walked + math.hypot(vx, vy) * frames
        return x, y, walked

    def is_anomalous(self, t: int) -> bool:
        return self.during[0] <= t < self.during[1]

    def draw(self, img: np.ndarray, t: int, color: tuple[int, int, int] | None = None) -> None:
        """Draw it as it is at frame ``t`` (every part in ``color`` if given: the mask pass)."""
        x, y, walked = self.travel(t)
        if t < self.legs[0][0] or not -40 < x < W + 40:
            return
        h = 22.0 + 20.0 * y / H  # height in pixels: nearer the camera (lower), larger
        if self.shape == "cart":
            cv2.rectangle(img, _pt(x - 0.35 * h, y - 0.55 * h), _pt(x + 0.35 * h, y - 0.2 * h), color or self.color, -1)
            for dx in (-0.22, 0.22):
                cv2.circle(img, _pt(x + dx * h, y - 0.1 * h), max(2, int(0.1 * h)), color or self.trim, -1)
            return
        swing = math.sin(2 * math.pi * 0.6 * walked / h)
        hip, shoulder = (x, y - 0.45 * h), (x, y - 0.78 * h)
        for s in (swing, -swing):
            cv2.line(img, _pt(*hip), _pt(x + s * 0.15 * h, y), color or self.trim, max(1, int(0.12 * h)))
        cv2.line(img, _pt(*hip), _pt(*shoulder), color or self.color, max(2, int(0.26 * h)))
        for s in (swing, -swing):
            cv2.line(img, _pt(*shoulder), _pt(x - s * 0.12 * h, y - 0.45 * h), color or self.color, max(1, int(0.09 * h)))
        cv2.circle(img, _pt(x, y - 0.9 * h), max(2, int(0.12 * h)), color or self.skin, -1)


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x)), int(round(y))


@dataclass
class Scene:
    """One video: background, trees, actors and lighting; renders its frames and anomaly masks."""

    seed: int
    n_frames: int
    background: np.ndarray
    trees: list[Tree]
    gain: np.ndarray  # the illumination of each frame
    actors: list[Actor] = field(default_factory=list)

    def _in_depth_order(self, t: int) -> list[Actor]:
        return sorted(self.actors, key=lambda a: a.travel(t)[1])  # far (higher) first: nearer ones hide them

    def draw(self, t: int) -> np.ndarray:
        """Frame ``t`` before lighting and sensor noise."""
        img = self.background.copy()
        for tree in self.trees:
            tree.draw(img, t)
        for actor in self._in_depth_order(t):
            actor.draw(img, t)
        return img

    def frame(self, t: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, t))
        lit = self.draw(t).astype(np.float32) * self.gain[t] + rng.normal(0.0, 3.0, (H, W, 3)).astype(np.float32)
        return np.clip(lit, 0, 255).astype(np.uint8)

    def mask(self, t: int) -> np.ndarray:
        """The pixels where an anomalous actor is visible: every actor drawn in depth order, as 1 if
        it is anomalous at ``t`` and 0 if not, so that one in front hides it."""
        m = np.zeros((H, W), np.uint8)
        for actor in self._in_depth_order(t):
            actor.draw(m, t, color=(int(actor.is_anomalous(t)),) * 3)
        return m.astype(bool)


def _walker(rng: np.random.Generator, t0: int, y0: float, behind: float) -> Actor:
    """An ordinary pedestrian entering from the left at frame ``t0``, ``behind`` pixels after its group."""
    color = tuple(int(np.clip(c + rng.integers(-12, 13), 0, 255)) for c in CLOTHES[rng.integers(len(CLOTHES))])
    return Actor("walker", -15.0 - behind, y0, ((t0, rng.uniform(*SPEED), 0.0),), color, SKIN[rng.integers(len(SKIN))])


def _crowd(rng: np.random.Generator, n_frames: int) -> list[Actor]:
    """A steady stream of walkers, alone or in pairs (per video), more or less dense; it starts 80
    frames before the video so the walkway is never empty. Steady, so that the number of people in
    view varies little within a video and an extra one would show."""
    size = int(rng.integers(1, 3))
    gap = size * rng.uniform(5, 9)  # mean frames between groups
    actors, t0 = [], -80.0
    while t0 < n_frames:
        y = rng.uniform(*FEET)
        actors += [_walker(rng, int(t0), float(np.clip(y + rng.uniform(-6, 6), *FEET)), 10.0 * k) for k in range(size)]
        t0 += gap * rng.uniform(0.85, 1.15)
    return actors


def _anomaly(rng: np.random.Generator, kind: str, crowd: list[Actor], t0: int) -> None:
    """Make the walker of ``crowd`` best placed at frame ``t0`` the anomaly ``kind``, starting at ``t0``."""
    if kind == "loiterer":  # the walker nearest the middle of the view stops walking through and mills about
        a = min(crowd, key=lambda a: abs(a.travel(t0)[0] - W / 2))
        vx = a.legs[0][1]
        legs, t, y = [a.legs[0]], t0, a.travel(t0)[1]
        for _ in range(int(rng.integers(4, 8))):  # each heading turns back towards the walker's row
            heading, frames = rng.uniform(0.3 * math.pi, math.pi), int(rng.integers(6, 12))
            vy = vx * math.sin(heading) * (1.0 if y < a.y0 else -1.0)
            legs.append((t, vx * math.cos(heading), vy))
            t, y = t + frames, y + vy * frames
        a.legs, a.anomaly, a.during = (*legs, (t, vx, 0.0)), kind, (t0, t)
        return
    # the others take the place of the walker entering nearest t0, just outside the view at t0
    a = min(crowd, key=lambda a: abs(a.legs[0][0] - t0))
    vx = a.legs[0][1]
    a.anomaly, a.during, a.x0, a.legs = kind, (t0, NEVER), -5.0, ((t0, vx, 0.0),)
    if kind == "cart":  # the wrong appearance, with the flow at walking speed
        a.shape, a.color, a.trim = "cart", LOUD[rng.integers(len(LOUD))], (25, 25, 25)
    elif kind == "counterflow":  # against the flow, from the right
        a.x0, a.legs = W + 5.0, ((t0, -vx, 0.0),)
    else:  # lawn_walker: across the lawn from either side, slanting away from its nearer edge
        angle, sign = rng.uniform(0.1, 0.2), float(rng.choice([-1.0, 1.0]))
        a.y0 = rng.uniform(LAWN[0] + 8, LAWN[1] - 4)
        slant = 1.0 if a.y0 < sum(LAWN) / 2 else -1.0
        a.x0 = -5.0 if sign > 0 else W + 5.0
        a.legs = ((t0, sign * vx * math.cos(angle), slant * vx * math.sin(angle)),)


def _gain(rng: np.random.Generator, n_frames: int) -> np.ndarray:
    """Illumination per frame: faint jitter and three to six short bursts of flicker (a failing lamp)."""
    gain = 1.0 + rng.normal(0.0, 0.003, n_frames)
    for _ in range(int(rng.integers(3, 7))):
        start = int(rng.integers(0, n_frames))
        end = min(n_frames, start + int(rng.integers(5, 15)))
        gain[start:end] += rng.normal(0.0, 0.01, end - start)
    return gain


def make_scene(seed: int, split: str, index: int, n_frames: int) -> Scene:
    """The deterministic scene of video ``index`` of ``split``: its background is the same in every
    video of a seed; a test video has one anomaly, of kind ``KINDS[index % 4]``, starting between
    frame 15 and 50 frames before the end (at 15 in a shorter video)."""
    rng = np.random.default_rng((seed, 0 if split == "train" else 1, index))
    trees = [Tree(x + rng.uniform(-6, 6), rng.uniform(14, 26), rng.uniform(0, 2 * math.pi),
                  (rng.uniform(3, 6), rng.uniform(40, 90), rng.uniform(0, 2 * math.pi))) for x in (14, 48, 82, 114)]
    scene = Scene(int(rng.integers(2**31)), n_frames, _background(np.random.default_rng(seed)), trees,
                  _gain(rng, n_frames), _crowd(rng, n_frames))
    if split == "test":
        start = int(rng.integers(FIRST_ANOMALY, max(FIRST_ANOMALY + 1, n_frames - 50)))
        _anomaly(rng, KINDS[index % len(KINDS)], scene.actors, start)
    return scene


@register_dataset("synthetic")
class Synthetic(DatasetAdapter):
    """Built-in synthetic surveillance scene (seeded; exact labels and masks). SYNTHETIC data."""

    needs_root = False

    @dataclass
    class Options:
        """The generated set: the scene's design, its seed, its numbers of videos and the frames of
        each video. ``scene`` is the design's version: a redesign changes the videos the same
        options make, so it gets a new number, and caches and runs of another design are never
        taken for this one (2: walkers, trees and flicker; 1, before versions were recorded:
        cyclists, runners and thrown objects). Only the current design can be generated."""

        scene: Literal[2] = 2
        seed: int = 0
        train_videos: Annotated[int, Range(ge=1)] = 12
        test_videos: Annotated[int, Range(ge=1)] = 8
        frames: Annotated[int, Range(ge=1)] = 150

    @classmethod
    def identity(cls, settings: Options) -> dict[str, Any]:
        """Every option, defaults too: the videos are a function of all of them, and the caches
        and results are named so."""
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
