"""Provider instrumentation: one package per provider, the shared stream proxy in `_stream.py`."""
