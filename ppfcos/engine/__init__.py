"""Training, evaluation and checkpoint I/O around a built model."""
