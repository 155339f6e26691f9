"""Built-in scenarios shipped with the simulator (TOML files, read by ``loader.py``)."""
