"""nbval runs every notebook under the fast profile (same code path, small data; see facelib/study/profiles.py)."""
import os

os.environ.setdefault("FACELIB_PROFILE", "fast")
