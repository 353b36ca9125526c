"""gradflow: how gradients flow backwards through time in recurrent networks."""

__version__ = "0.1.0"
