"""A plugin that fails on import, as one with a missing dependency would."""

raise RuntimeError("ors_broken_plugin needs a library that is not installed")
