"""deploy/python/infer.py, run as a user runs it, with the exported network replaced by
tracking_scene's ScenePredictor (the scene's true boxes, jittered, with misses): the
tracking tests' detector whose output is known. Needs tests/ on PYTHONPATH."""
import sys

from ppfcos_runtime import factory, infer
from tracking_scene import ScenePredictor

if __name__ == "__main__":
    factory.create_predictor = lambda backend, model, options: ScenePredictor()
    sys.exit(infer.main())
