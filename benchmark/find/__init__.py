"""The proxy finder (``python -m benchmark find``): which proxy ranks best for the compute one
has? A race over candidate proxies (zero-cost, table, learned, and an EcoNAS grid of reduced
training settings) that spends compute where it decides something. :mod:`.space` parses the
SPEC, :mod:`.race` is the pure decision rule, :mod:`.driver` reads scores through the runner and
store and keeps the accounting. The rule is in docs/FINDER.md."""

#: the finder's defaults (besides the dataset and truth: nb201.catalog's DEFAULT_DATASET and
#: SELECTION_TRUTH): the fields of :class:`.driver.FindSpec` and :class:`.race.Rule`, which the
#: ``find`` command's flags and ``[[find]]`` tables read; here, in the package's light module, so
#: that the CLI builds its parser without loading what the finder computes with
DEFAULT_OBJECTIVE = "kendall_tau"
DEFAULT_POOL = 200          # archs the race may read
DEFAULT_N0 = 25             # archs of the first round
