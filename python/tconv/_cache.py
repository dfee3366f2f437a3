# SPDX-License-Identifier: Apache-2.0
"""A bounded, thread-safe cache of compiled layers.

Entries are keyed by a family (everything but the input size: parameters, weights) and a shape
(batch, spatial sizes). A new shape of a known family is made by re-shaping a copy of a cached
layer of that family (the packed weights are shared, the kernels come from the library's cache)
instead of compiling anew; where the library cannot re-shape (it would have to pack the weights
another way) the layer is compiled. Cached layers are never changed after insertion, so any
number of threads may execute them at once."""

import threading
from collections import OrderedDict

from ._errors import Error


class LayerCache:
    def __init__(self, capacity):
        self._lock = threading.Lock()
        self._entries = OrderedDict()  # (family, shape) -> compiled layer, oldest first
        self._latest = {}              # family -> the shape compiled or re-shaped last
        self._capacity = capacity
        self.hits = self.misses = self.compiles = self.reshapes = 0

    def get(self, family, shape, compile_fn):
        key = (family, shape)
        with self._lock:
            layer = self._entries.get(key)
            if layer is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return layer
            self.misses += 1
            sibling = self._entries.get((family, self._latest.get(family)))
        # Outside the lock: compiling and re-shaping release the GIL and may take milliseconds.
        layer = None
        if sibling is not None:
            try:
                layer = sibling.reshaped(shape[0], list(shape[1:]))
                reshaped = True
            except Error as e:
                if e.kind != "unsupported":
                    raise
        if layer is None:
            layer = compile_fn()
            reshaped = False
        with self._lock:
            if reshaped:
                self.reshapes += 1
            else:
                self.compiles += 1
            self._entries[key] = layer
            self._entries.move_to_end(key)
            self._latest[family] = shape
            self._evict()
        return layer

    def _evict(self):
        while len(self._entries) > self._capacity:
            (family, shape), _ = self._entries.popitem(last=False)
            if self._latest.get(family) == shape:
                del self._latest[family]

    def set_capacity(self, capacity):
        with self._lock:
            self._capacity = capacity
            self._evict()

    def clear(self):
        with self._lock:
            self._entries.clear()
            self._latest.clear()

    def info(self):
        with self._lock:
            return {"layers": len(self._entries), "capacity": self._capacity,
                    "hits": self.hits, "misses": self.misses,
                    "compiles": self.compiles, "reshapes": self.reshapes}
