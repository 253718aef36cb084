"""Stands for a module that imports something heavy: loaded only when its model is used."""

from __future__ import annotations

from ors_example_plugin import Shuffle


class Heavy(Shuffle):
    name = "example-lazy"
