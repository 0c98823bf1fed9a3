"""Built-in adapters, one package per partner system, each registered through the ``saphan.adapters``
entry-point group exactly as a third-party adapter is."""
