"""The built-in demo judge: a small model that follows the rubric it is given, offline."""
