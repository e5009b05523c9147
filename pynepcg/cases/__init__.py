"""End-to-end workflows: :mod:`pynepcg.cases.water` (coarse-grained water)."""
