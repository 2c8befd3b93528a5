"""Active-learning strategies and scoring methods: thin MONAI Label adapters over ``lib.active_learning``."""
