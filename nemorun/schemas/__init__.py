"""The spec model: formats and migrations, loading with positions, schemas from type hints."""
