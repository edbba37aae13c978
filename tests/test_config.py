from dataclasses import dataclass
from typing import Literal

import pytest

from vadbench.config import apply_overrides, parse_assignments
from vadbench.errors import ConfigError


@dataclass
class Cfg:
    lr: float = 1e-4
    epochs: int = 10
    memory: bool = True
    color: Literal["gray", "rgb"] = "rgb"
    skips: tuple[int, ...] = (1,)
    name: str | None = None


def test_overrides_are_parsed_by_type():
    cfg = apply_overrides(Cfg(), parse_assignments(["lr=2e-5", "epochs=3", "memory=false", "color=gray",
                                                    "skips=1,2,3", "name=none"]))
    assert cfg == Cfg(lr=2e-5, epochs=3, memory=False, color="gray", skips=(1, 2, 3), name=None)


def test_unknown_key_names_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown setting 'lrate'.*valid: lr, epochs, memory, color, skips, name"):
        apply_overrides(Cfg(), {"lrate": "1"})


@pytest.mark.parametrize("item, message", [("epochs=ten", "expected int"), ("memory=maybe", "true or false"),
                                           ("color=blue", "not one of gray, rgb")])
def test_bad_values_say_what_was_expected(item, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Cfg(), parse_assignments([item]))


def test_assignment_needs_equals():
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignments(["lr"])
