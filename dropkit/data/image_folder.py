"""Image folders in torchvision's ``ImageFolder`` layout (``--dataset imagefolder:ROOT``), decoded with Pillow.

``ROOT/train/<class>/*.png`` and ``ROOT/test/<class>/*`` (or ``ROOT/<class>/*``, split by ratio). Class
names are the sorted folder names of the training split, as in ``torchvision.datasets.ImageFolder``;
files are those with an image suffix (``.png``, ``.jpg``, ...), others are ignored. Every image is
converted to grayscale when all of them are grayscale, else to RGB, and resized (bilinear) to
``image_size`` (default: the size of the first image); the result is ``uint8`` ``(N, C, H, W)``,
scaled to ``[0, 1]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dropkit.data.decoded import Decoded
from dropkit.data.files import IMAGE_SUFFIXES

__all__ = ["image_folder_layout", "read_image_folder"]


def _class_folders(split_root: Path) -> list[Path]:
    return sorted(p for p in split_root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def image_folder_layout(root: Path) -> dict[str, dict[str, list[Path]]]:
    """``{split: {class_name: [image files]}}`` for ``root``; ``"test"`` only when ``root/test`` exists.

    Raises:
        ValueError: no class folders, an empty class folder (names it), or test classes the training
            split does not have.
    """
    train_root = root / "train" if (root / "train").is_dir() else root
    splits = {"train": train_root}
    if train_root != root and (root / "test").is_dir():
        splits["test"] = root / "test"
    layout: dict[str, dict[str, list[Path]]] = {}
    for split, folder in splits.items():
        classes = _class_folders(folder)
        if not classes:
            raise ValueError(f"dataset: '{folder}' must hold one folder per class (ImageFolder layout), found none")
        layout[split] = {}
        for c in classes:
            files = _images(c)
            if not files:
                raise ValueError(
                    f"dataset: class folder '{c}' holds no images (looked for {', '.join(IMAGE_SUFFIXES)}); "
                    "add images or remove the folder"
                )
            layout[split][c.name] = files
    if "test" in layout:
        extra = sorted(set(layout["test"]) - set(layout["train"]))
        if extra:
            raise ValueError(
                f"dataset: '{root / 'test'}' has classes {', '.join(extra)} that '{train_root}' does not have"
            )
    return layout


def read_image_folder(root: Path, image_size: list[int] | tuple[int, ...] | None = None) -> Decoded:
    """Decode every image under ``root`` into arrays.

    Args:
        root: the ImageFolder root.
        image_size: ``(H, W)`` or ``(S,)`` for ``S x S`` (default: None, the first image's size).

    Raises:
        ValueError: a bad layout (see :func:`image_folder_layout`), an image Pillow cannot decode
            (names the file), or a bad ``image_size``.

    Example:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for c in ("cat", "dog"):
        ...     (root / c).mkdir()
        ...     for i in range(2):
        ...         Image.new("L", (6, 4), color=40 * i).save(root / c / f"{i}.png")
        >>> dec = read_image_folder(root)
        >>> dec.train_x.shape, dec.class_names
        ((4, 1, 4, 6), ('cat', 'dog'))
    """
    from PIL import Image, UnidentifiedImageError

    layout = image_folder_layout(root)
    names = tuple(layout["train"])
    index = {n: i for i, n in enumerate(names)}
    all_files = [f for split in layout.values() for files in split.values() for f in files]
    modes = {}
    for f in all_files:
        try:
            with Image.open(f) as im:
                modes[f] = (im.mode, im.size)
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"dataset: '{f}': not an image Pillow can read: {exc}") from exc
    gray = all(m in ("L", "1", "I;16", "I", "F", "LA") or m.startswith("I;") for m, _ in modes.values())
    mode = "L" if gray else "RGB"
    if image_size is None:
        w, h = modes[all_files[0]][1]
    else:
        size = [int(s) for s in image_size]
        if len(size) not in (1, 2) or min(size) < 1:
            raise ValueError(f"dataset: image_size must be S or H,W with positive integers, got {image_size!r}")
        h, w = (size[0], size[0]) if len(size) == 1 else (size[0], size[1])
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, classes in layout.items():
        xs, ys = [], []
        for cname, files in classes.items():
            for f in files:
                try:
                    with Image.open(f) as im:
                        im = im.convert(mode)
                        if im.size != (w, h):
                            im = im.resize((w, h), Image.BILINEAR)
                        arr = np.asarray(im, dtype=np.uint8)
                except (UnidentifiedImageError, OSError) as exc:  # truncated data shows up at decode
                    raise ValueError(f"dataset: '{f}': Pillow could not decode the image: {exc}") from exc
                xs.append(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
                ys.append(index[cname])
        out[split] = (np.stack(xs), np.array(ys, dtype=np.int64))
    test_x, test_y = out.get("test", (None, None))
    return Decoded(out["train"][0], out["train"][1], test_x, test_y, names, files=all_files, x_scale=1 / 255)
