"""The openmaas command line: the composition root."""
