"""Errors the CLI turns into one readable line (exit code 2) instead of a traceback."""


class VadbenchError(Exception):
    """Base of every error that is the user's input, not a bug."""


class ConfigError(VadbenchError):
    """A bad setting, override or protocol field."""


class RegistryError(VadbenchError):
    """An unknown, broken or duplicated detector or dataset."""


class DatasetError(VadbenchError):
    """A dataset root, file, frame or label that cannot be used."""


class CacheError(VadbenchError):
    """A clip cache that is missing, corrupt or stale."""


class RunError(VadbenchError):
    """A run directory that cannot be created, resumed or read."""


class EvaluationError(VadbenchError, ValueError):
    """Scores a protocol cannot evaluate: one per frame missing, or a single class left."""


def one_line(text: str) -> str:
    """A message as one printable line: newlines folded, unencodable characters escaped."""
    return " ".join(text.split()).encode("utf-8", "backslashreplace").decode("utf-8")
