"""How results are shown: the console, the JSON document, the pytest-html report."""
