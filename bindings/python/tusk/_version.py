"""The binding's version: always the library version it is released with."""
__version__ = "0.3.0"
