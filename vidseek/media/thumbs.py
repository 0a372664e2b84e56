"""Write keyframe thumbnails as small JPEGs for result lists.

save_thumbnail(segment.keyframe, data_dir / "thumbs" / "12" / "3.jpg")
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


def save_thumbnail(image: np.ndarray, path: str | Path, size: int = 320, quality: int = 80) -> Path:
    """Save an RGB array as a JPEG whose longer side is at most `size`; returns `path`.

    `save_thumbnail(frame.image, Path("thumbs/a.jpg"))`. The file appears complete or not at all:
    a server may be reading thumbnails while the indexer writes them.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)  # keeps aspect ratio, never enlarges
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o644)  # mkstemp makes owner-only files; thumbnails are meant to be served
        with os.fdopen(handle, "wb") as fh:
            picture.save(fh, format="JPEG", quality=quality, optimize=True)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path
