"""vidcolor: colourize and stylize black-and-white film."""
__version__ = "0.1.0"
