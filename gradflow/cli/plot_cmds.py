"""`gradflow plot` subcommands."""
