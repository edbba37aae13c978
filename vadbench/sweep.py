"""Sweeps: detectors × datasets × seeds × settings × ablation rows, one run directory per job under one root.

A sweep is a TOML file or the same keys given on the command line, which override the file's
(``docs/sweeps.md`` is the reference). In ``set`` and ``data-set`` a list is a grid axis and
the jobs are the cartesian product; a table named after a detector (or dataset) holds settings
for that one only; ``ablate`` expands into the rows of the method card's ablation grid, each
row as :func:`vadbench.ablate.row_request` makes it for ``vadbench ablate``.

Every job is checked before any starts, as ``vadbench run`` would check it (device, detector,
settings and profile, dataset options and root, protocol), and written down resolved: settings
in their typed form and the profile the card would choose pinned, so a job's request, and its
name, are the same whether it came from the file or the command line, and stay the same when a
later vadbench chooses profiles differently. Names are deterministic and readable::

    <detector>[-<ablation row>]-<dataset>[-<profile>]-s<seed>[-<key>=<value>...]

with one ``key=value`` (dataset options, then settings, keys sorted) for each key given as a
list: an axis names its runs even with one value, so widening an axis later keeps the runs made
so far. Two jobs that would share a name are refused, so no run directory is ever shared.

:func:`claim` records every job's request in ``ROOT/sweep.json``. A later sweep into the same
root must name the same jobs or more (a superset, each stored job with the same request): a
restart, or a grid widened, continues; anything else is refused in one line, since its runs
would sit beside runs of another sweep that tables would average or compare.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from filelock import FileLock

from vadbench._version import __version__
from vadbench.config import apply_overrides, parse_assignments, parse_seeds, to_dict
from vadbench.errors import ConfigError, RunError, VadbenchError
from vadbench.jobs import Job
from vadbench.store import check_writable, read_json, write_json

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:  # the runner imports torch
    from vadbench.runner import RunRequest

FORMAT = 1
LISTS = ("detectors", "ablate", "datasets")
GRIDS = ("set", "data-set")  # scoped tables whose lists are axes
# RunRequest fields a sweep builds itself; every other field is a key of the same name (``keep-checkpoint``)
BUILT = ("detector", "dataset", "root", "seed", "overrides", "dataset_options", "protocol_overrides", "label", "out",
         "resume", "overwrite")


def load(path: Path) -> dict[str, Any]:
    """A sweep file's keys; a relative dataset ``root`` is read from the file's folder, as a path
    in a file is meant."""
    try:
        with open(path, "rb") as f:
            spec = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"sweep file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the sweep file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc})") from None
    root = spec.get("root")
    if isinstance(root, str):
        spec["root"] = str(path.parent / root)
    elif isinstance(root, dict):
        spec["root"] = {k: str(path.parent / v) if isinstance(v, str) else v for k, v in root.items()}
    return spec


def from_command_line(given: Mapping[str, Any]) -> dict[str, Any]:
    """The sweep keys of the options given on the command line, by parameter name: ``--detectors a,b``
    is a list, ``--set lr=[1e-4,2e-4]`` an axis, ``--set mnad-p.feature_dim=64`` a setting of one detector."""
    spec: dict[str, Any] = {}
    for name, value in given.items():
        key = {"detector": "detectors", "dataset": "datasets", "sets": "set", "data_sets": "data-set",
               "protocol_sets": "protocol-set"}.get(name, name.replace("_", "-"))
        if key in LISTS:
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif key in (*GRIDS, "protocol-set"):
            value = _assignments(value, f"--{key}")
        spec[key] = value
    return spec


def _assignments(items: list[str], option: str) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for key, value in parse_assignments(items, option).items():
        if value.startswith("[") and value.endswith("]"):
            value = [v.strip() for v in value[1:-1].split(",") if v.strip()]  # type: ignore[assignment]
        scope, dot, field = key.rpartition(".")
        (table.setdefault(scope, {}) if dot else table)[field if dot else key] = value
    return table


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over``'s keys replace ``base``'s; tables merge key by key (a ``--set`` changes one setting)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def expand(spec: Mapping[str, Any], source: str, here: bool = True) -> list[tuple[str, RunRequest]]:
    """Every job of ``spec`` as (name, checked and resolved request), in a deterministic order:
    datasets, their option points, detectors then ablation rows, setting points, seeds. ``here``:
    the jobs run on this machine, so a CUDA device must be here too (a SLURM sweep's need not)."""
    detectors, ablated, datasets = (_names(spec, key, source) for key in LISTS)
    datasets = datasets or ["synthetic"]
    seeds = _seeds(spec.get("seeds", [0]), source)
    sets = _scoped(spec, "set", detectors + ablated, source)
    data_sets = _scoped(spec, "data-set", datasets, source)
    roots = _roots(spec.get("root"), datasets, source)
    protocol_sets = _protocol_sets(spec.get("protocol-set", {}), source)

    from vadbench.ablate import row_request, rows  # the structure is sound: now what needs the registries and torch
    from vadbench.runner import RunRequest

    scalars = {f.name.replace("_", "-"): f.name for f in dataclasses.fields(RunRequest) if f.name not in BUILT}
    keys = (*LISTS, "seeds", *GRIDS, "protocol-set", "root", *scalars)
    unknown = sorted(set(spec) - set(keys))
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}; valid: {', '.join(keys)}")
    if not detectors and not ablated:
        raise ConfigError(f"{source}: name at least one detector (detectors = [...], --detectors) or ablation "
                          "grid (ablate = [...], --ablate)")
    fields = {"protocol_overrides": protocol_sets,
              **_scalars({field: spec[key] for key, field in scalars.items() if key in spec}, source)}
    entries = [(name, None) for name in detectors] + [(name, row) for name in ablated for row in rows(name)]
    check = _Checker(here)
    jobs: dict[str, RunRequest] = {}
    for dataset in datasets:
        for data_point, data_axes in _points({**data_sets[None], **data_sets.get(dataset, {})}):
            for entry, row in entries:
                for point, axes in _points({**sets[None], **sets.get(entry, {})}):
                    for seed in seeds:
                        req = RunRequest(detector=entry, dataset=dataset, root=roots.get(dataset), seed=seed,
                                         overrides=point, dataset_options=data_point, **fields)
                        try:
                            req = check(row_request(req, row, None) if row is not None else req)
                        except VadbenchError as exc:  # said as run would say it, and where it comes from
                            what = f"{entry}" + (f" row {row.label!r}" if row is not None else "")
                            raise type(exc)(f"{source}: {what} on {dataset}: {exc}") from None
                        name = _name(entry, req, data_axes, axes)
                        if name in jobs:
                            raise ConfigError(f"{source}: two jobs would share the run directory {name!r}; make their "
                                              "values tell apart (or drop the repeated one)")
                        jobs[name] = req
    return list(jobs.items())


def jobs_of(expanded: list[tuple[str, RunRequest]], root: Path, plugins: list[Path] | None = None) -> list[Job]:
    """The :class:`Job` of each expanded request, into ``root`` (absolute: workers may start elsewhere)."""
    skip = {"out", "resume", "overwrite"}
    return [Job(name, json.loads(json.dumps({k: v for k, v in dataclasses.asdict(req).items() if k not in skip})),
                str(Path(root).resolve()), tuple(str(Path(p).resolve()) for p in plugins or ()))
            for name, req in expanded]


def claim(root: Path, jobs: list[Job]) -> None:
    """Write ``ROOT/sweep.json`` (atomically), after checking that a sweep already recorded there is
    one this sweep continues: each of its jobs here, with the same request."""
    path = Path(root) / "sweep.json"
    check_writable(Path(root) / ".locks")
    with FileLock(Path(root) / ".locks" / "sweep.json.lock"):
        if path.exists():
            stored = read_json(path, ("format", "jobs"))
            try:
                old = {job["name"]: dict(job["request"]) for job in stored["jobs"]}
            except (TypeError, KeyError, ValueError):
                raise RunError(f"{path} is not the record of a sweep (its jobs lack a name or request)") from None
            new = {job.name: job.request for job in jobs}
            dropped = [name for name in old if name not in new]
            if dropped:
                raise RunError(f"{path} records another sweep: this one lacks {len(dropped)} of its {len(old)} jobs "
                               f"(e.g. {dropped[0]}); a sweep into a root must name the same jobs or more; give "
                               "another --out for a different sweep")
            default = jobs_of([("", _blank())], root)[0].request  # a field newer than the record had its default
            for name, request in old.items():
                changed = sorted(k for k in {*request, *new[name]}
                                 if request.get(k, default.get(k)) != new[name].get(k, default.get(k)))
                if changed:
                    raise RunError(f"{path} records job {name} with another {', '.join(changed)}; a sweep into a root "
                                   "must keep each job's request; give another --out for a different sweep")
        write_json(path, {"format": FORMAT, "vadbench": __version__,
                          "jobs": [{"name": job.name, "request": job.request} for job in jobs]})


def _blank() -> RunRequest:
    from vadbench.runner import RunRequest

    return RunRequest(detector="")


# -- reading the spec ---------------------------------------------------------------------------
def _names(spec: Mapping[str, Any], key: str, source: str) -> list[str]:
    names = spec.get(key, [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{source}: {key} must be a list of names, e.g. {key} = [\"a\", \"b\"]")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{source}: {key} names {repeated[0]!r} more than once")
    return names


def _seeds(value: Any, source: str) -> list[int]:
    if isinstance(value, str):
        return parse_seeds(value)
    if (isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                  for s in value) and len(set(value)) == len(value)):
        return value
    raise ConfigError(f"{source}: seeds must be distinct seeds >= 0 (seeds = [0, 1, 2]) or a range (seeds = \"0-2\")")


def _scoped(spec: Mapping[str, Any], key: str, scopes: list[str], source: str) -> dict[str | None, dict[str, Any]]:
    """``set`` or ``data-set``: the values for all (under None) and the tables for one detector or dataset."""
    table = spec.get(key, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: {key} must be a table of key = value")
    out: dict[str | None, dict[str, Any]] = {None: {}}
    for name, value in table.items():
        empty = [k for k, v in (value.items() if isinstance(value, dict) else [(name, value)]) if v == []]
        if empty:
            raise ConfigError(f"{source}: {key} {empty[0]} is an empty list (an axis needs at least one value)")
        if not isinstance(value, dict):
            out[None][name] = value
        elif name not in scopes:
            kind = "detectors or ablated detectors" if key == "set" else "datasets"
            raise ConfigError(f"{source}: {key} names {name!r}, which is not one of the sweep's {kind} "
                              f"({', '.join(scopes)})")
        elif any(isinstance(v, dict) for v in value.values()):
            raise ConfigError(f"{source}: {key}.{name} holds a table; its values are settings or lists of them")
        else:
            out[name] = dict(value)
    return out


def _points(values: dict[str, Any]) -> list[tuple[dict[str, Any], list[str]]]:
    """The grid of ``values`` (a list is an axis): each point's values and the axes, sorted."""
    axes = sorted(k for k, v in values.items() if isinstance(v, list))
    return [({**values, **dict(zip(axes, combo))}, axes) for combo in itertools.product(*(values[a] for a in axes))]


def _roots(value: Any, datasets: list[str], source: str) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        if len(datasets) > 1:
            raise ConfigError(f"{source}: one root for {len(datasets)} datasets; give one per dataset "
                              "([root] ped2 = \"...\")")
        return {datasets[0]: str(Path(value).resolve())}
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        stray = sorted(set(value) - set(datasets))
        if stray:
            raise ConfigError(f"{source}: root names {stray[0]!r}, which is not one of the sweep's datasets")
        return {k: str(Path(v).resolve()) for k, v in value.items()}
    raise ConfigError(f"{source}: root must be a path, or a table of dataset = path")


def _protocol_sets(value: Any, source: str) -> dict[str, Any]:
    if not isinstance(value, dict) or any(isinstance(v, (dict, list)) for v in value.values()):
        raise ConfigError(f"{source}: protocol-set must be a table of field = value, no lists: other protocols need "
                          "no new runs (vadbench metrics RUN --protocol-set ... recomputes from frames.csv)")
    return dict(value)


def _scalars(given: dict[str, Any], source: str) -> dict[str, Any]:
    """The request fields given as they are (``epochs = 1``), typed by ``RunRequest``'s annotations."""
    try:
        typed = apply_overrides(_blank(), given)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    fields = {key: getattr(typed, key) for key in given}
    for key in ("epochs", "workers"):
        if fields.get(key) is not None and fields[key] < 0:
            raise ConfigError(f"{source}: {key} must be >= 0, got {fields[key]}")
    return fields


# -- checking and naming a job ------------------------------------------------------------------
class _Checker:
    """Checks a request as ``vadbench run`` would before any work, and returns it resolved: the
    profile pinned, settings, dataset options and protocol fields in their typed form. Results are
    kept per request but the seed (a sweep's seeds share everything else)."""

    def __init__(self, here: bool) -> None:
        self._here = here
        self._done: dict[str, RunRequest] = {}
        self._adapters: dict[str, Any] = {}

    def __call__(self, req: RunRequest) -> RunRequest:
        key = json.dumps({**dataclasses.asdict(req), "seed": None}, sort_keys=True, default=str)
        if key not in self._done:
            self._done[key] = self._resolve(req)
        return dataclasses.replace(self._done[key], seed=req.seed)

    def _resolve(self, req: RunRequest) -> RunRequest:
        from vadbench.data.prepare import make_adapter
        from vadbench.registry import build_detector, resolve_detector
        from vadbench.runner import resolve_device, resolve_profile, resolve_protocol

        device = req.device if req.device.startswith("cuda") and not self._here else resolve_device(req.device)
        cls, card, preset = resolve_detector(req.detector)
        where = json.dumps([req.dataset, req.root, req.dataset_options], sort_keys=True, default=str)
        if where not in self._adapters:
            self._adapters[where] = make_adapter(req.dataset, req.root, **req.dataset_options)
        adapter = self._adapters[where]
        profile = resolve_profile(req.profile, card, adapter, device)
        config = to_dict(build_detector(cls, card, preset, profile, req.overrides).config)
        protocol = resolve_protocol(req.protocol, cls, card, req.protocol_overrides)
        options = to_dict(adapter.settings)
        return dataclasses.replace(
            req, profile=profile, overrides={k: config[k] for k in req.overrides},
            dataset_options={k: options[k] for k in req.dataset_options},
            protocol_overrides={k: getattr(protocol, k) for k in req.protocol_overrides})


def _name(entry: str, req: RunRequest, data_axes: list[str], axes: list[str]) -> str:
    from vadbench.ablate import slug

    parts = [slug(entry), *([slug(req.label)] if req.label else []), slug(req.dataset),
             *([slug(req.profile)] if req.profile else []), f"s{req.seed}"]
    parts += [f"{k}={_tag(req.dataset_options[k])}" for k in data_axes]
    parts += [f"{k}={_tag(req.overrides[k])}" for k in axes]
    return "-".join(parts)


def _tag(value: Any) -> str:
    """A typed value as it reads in a folder name: ``0.0001``, ``2e-05``, ``true``, ``1,2,3``."""
    from vadbench.ablate import slug

    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(_tag, value))
    return slug(str(value))
