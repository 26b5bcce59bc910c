"""Data as resident uint8 tensors: `sources` (torchvision sets, image folders, synthetic; the decode cache),
`split` (the stratified train/validation split), `loader` (normalisation and batched augmentation on the device).
"""

from nasrl.data.loader import Loader, Preprocess, batch_crop, batch_flip
from nasrl.data.sources import (
    DEFAULT_DATA_DIR,
    SOURCES_HELP,
    TORCHVISION_SOURCES,
    Dataset,
    load_dataset,
    synthetic_dataset,
)
from nasrl.data.split import Split, resolve_val_size, split_train_val

__all__ = [
    "DEFAULT_DATA_DIR",
    "SOURCES_HELP",
    "TORCHVISION_SOURCES",
    "Dataset",
    "Loader",
    "Preprocess",
    "Split",
    "batch_crop",
    "batch_flip",
    "load_dataset",
    "resolve_val_size",
    "split_train_val",
    "synthetic_dataset",
]
