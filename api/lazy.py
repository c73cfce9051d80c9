"""Modules whose code runs when they are first used, not when they are imported.

Pillow is needed only when a request carries an encoded image; importing it costs a cold start
~15 ms (PIL.Image and its EXIF tables) that a request with an array, like `test.json`, never uses.
`lazy_import` registers the module at once (so `import` elsewhere finds the same object) and runs
its code on the first attribute read, through the standard library's `importlib.util.LazyLoader`.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_import(name: str) -> ModuleType:
    """The module `name`, loaded on first use (at once if it is already loaded or cannot be found)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return importlib.import_module(name)  # raises the usual ImportError
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
