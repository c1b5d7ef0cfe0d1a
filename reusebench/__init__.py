"""reusebench: the parameter replacement-and-measurement engine (model-agnostic)."""
