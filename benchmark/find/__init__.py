"""The proxy finder (``python -m benchmark find``): which proxy ranks best for the compute one
has? A race over candidate proxies (zero-cost, table, learned, and an EcoNAS grid of reduced
training settings) that spends compute where it decides something. :mod:`.space` parses the
SPEC, :mod:`.race` is the pure decision rule, :mod:`.driver` reads scores through the runner and
store and keeps the accounting. The rule is in docs/FINDER.md."""
