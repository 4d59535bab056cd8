"""The crowded-exit stress test: funds on the backtest's decision path, with impact.

``scenario`` reads scenarios (TOML) into frozen specs; ``impact`` is the
square-root law; ``engine`` walks the funds together, netting their orders into
price impact that feeds their next decisions.
"""
