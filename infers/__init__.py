"""MONAI Label infer tasks: thin adapters from a request to ``lib`` and back."""
