"""`gradflow jacobians`."""
