"""Keras → SavedModel → TFLite / TF.js pipeline, with every artifact verified in its own runtime."""
