"""filinglake: disclosure indexes from exchanges and regulators, validated and landed on object storage."""

__version__ = "0.1.0"
